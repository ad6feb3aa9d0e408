"""The evaluation JSON API with bearer tokens: policy read/write by role, runs started with
input errors named by field, results side by side with the regression filter, gap examples; and
an endpoint run against a real OpenAI-compatible server on 127.0.0.1 whose API key is read from
the environment and stored nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.evaluation.generation.transformers_backend import TransformersBackend
from app.models import EvalSet, EvaluationRun, Project, Role, TrainingRun, User
from tests.eval_runs.conftest import HOSTILE
from tests.evaluation.openai_server import build_app, serve
from tests.factories import RunJobs, bearer, make_member

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


def member(client: TestClient, db: Session, project: Project, role: Role) -> dict[str, str]:
    return bearer(client, db, make_member(db, project, f"{role.value}@example.com", role))


def test_policy_by_role(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet
) -> None:
    url = f"/api/projects/{project.slug}/evaluation/policy"
    reviewer = member(client, db, project, Role.reviewer)
    policy = client.get(url, headers=reviewer).json()
    assert policy["min_format_compliance"] == 1.0 and policy["max_capability_drop"] == 2.0
    assert policy["sets"][str(arith_set.id)]["max_new_tokens"] == 6
    assert client.put(url, json=policy, headers=reviewer).status_code == 403
    annotator = member(client, db, project, Role.annotator)
    assert client.get(url, headers=annotator).status_code == 403

    mine = bearer(client, db, engineer)
    wrong = client.put(url, json={**policy, "sets": {"9999": {}}}, headers=mine)
    assert wrong.status_code == 422 and "9999" in wrong.json()["message"]
    policy["sets"][str(arith_set.id)].update(role="safety", scorer="refusal")
    saved = client.put(url, json={**policy, "min_refusal_rate": 0.5}, headers=mine)
    assert saved.status_code == 200, saved.text
    assert saved.json()["min_refusal_rate"] == 0.5
    assert saved.json()["sets"][str(arith_set.id)]["scorer"] == "refusal"


def test_runs_results_and_gap_examples(
    client: TestClient, db: Session, project: Project, finished_run: EvaluationRun
) -> None:
    base = f"/api/projects/{project.slug}/evaluation"
    reviewer = member(client, db, project, Role.reviewer)
    runs = client.get(f"{base}/runs", headers=reviewer).json()
    assert [r["id"] for r in runs] == [finished_run.id]
    run = client.get(f"{base}/runs/{finished_run.id}", headers=reviewer).json()
    assert run["verdict"] == "ship_tune" and run["report"]["sets"][0]["tune"]["n"] == 8

    page = client.get(f"{base}/runs/{finished_run.id}/results?limit=3", headers=reviewer).json()
    assert page["total"] == 8 and len(page["items"]) == 3 and page["next_offset"] == 3
    assert set(page["items"][0]["outputs"]) == {"tune", "base:plain", "base:system"}
    regressions = client.get(f"{base}/runs/{finished_run.id}/results?regressions=true",
                             headers=reviewer).json()  # fmt: skip
    (item,) = regressions["items"]
    assert item["prompt"] == "2 + 3 =" and item["outputs"]["tune"]["output"] == HOSTILE
    assert item["outputs"]["base:plain"]["score"] == 1.0 and item["category"] == "small"
    other = client.get(f"{base}/runs/{finished_run.id}/results?eval_set_id=424242",
                       headers=reviewer)  # fmt: skip
    assert other.status_code == 422 and "424242" in other.json()["message"]

    gap = f"{base}/runs/{finished_run.id}/items/{item['eval_item_id']}/example"
    made = client.post(gap, json={"prompt": "What is 4 + 1?", "response": "5"}, headers=reviewer)
    assert made.status_code == 201 and made.json()["tag"] == "eval-gap:arith:small"
    copy = client.post(gap, json={"prompt": "please: 2 + 3 ="}, headers=reviewer)
    assert copy.status_code == 422 and "copies the eval item" in copy.json()["message"]
    annotator = member(client, db, project, Role.annotator)
    assert client.post(gap, json={"prompt": "x?"}, headers=annotator).status_code == 403
    assert client.post(f"{base}/runs/{finished_run.id}/cancel", headers=reviewer).status_code == 403


def test_start_names_the_bad_field(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet,
    stand_in_run: TrainingRun,
) -> None:  # fmt: skip
    url = f"/api/projects/{project.slug}/evaluation/runs"
    mine = bearer(client, db, engineer)
    cases = [
        ({"base_model": "/no/such/model"}, "not a local model directory"),
        ({"training_run_id": stand_in_run.id, "eval_set_ids": [777]}, "eval set 777"),
        ({"training_run_id": 555, "model_kind": "adapter"}, "training run 555 not found"),
        ({"backend": "endpoint", "endpoint_url": "ftp://x", "endpoint_model": "m"}, "http"),
        (
            {
                "backend": "endpoint",
                "endpoint_url": "http://x",
                "endpoint_model": "m",
                "api_key_env": "sk-abc def",
            },
            "environment variable",
        ),
        ({"model_kind": "merged", "base_model": "/tmp"}, "training_run_id"),
    ]
    for body, message in cases:
        answer = client.post(url, json=body, headers=mine)
        assert answer.status_code in (404, 422), (body, answer.text)
        assert message in answer.text, (body, answer.text)
    started = client.post(url, json={"training_run_id": stand_in_run.id, "model_kind": "adapter"},
                          headers=mine)  # fmt: skip
    assert started.status_code == 202 and started.json()["state"] == "queued"
    cancelled = client.post(f"{url}/{started.json()['id']}/cancel", headers=mine)
    assert cancelled.status_code == 202 and cancelled.json()["state"] == "cancelled"
    again = client.post(f"{url}/{started.json()['id']}/cancel", headers=mine)
    assert again.status_code == 409


def test_endpoint_run_reads_the_key_from_the_environment(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet,
    model_dir: Path, adapter_dir: Path, run_jobs: RunJobs, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The tune served on 127.0.0.1 as both model names: the tune equals its baseline, so the
    gain is 0 (not real) and the prompt is within the tune's interval: ship the prompt."""
    secret = "sk-test-never-stored-0123456789"
    monkeypatch.setenv("TRELLIS_EVAL_TEST_KEY", secret)
    tune = TransformersBackend(model_dir, adapter_dir=adapter_dir, batch_size=8)
    with serve(build_app(tune, api_key=secret)) as url:
        started = client.post(
            f"/api/projects/{project.slug}/evaluation/runs", headers=bearer(client, db, engineer),
            json={"backend": "endpoint", "model_kind": "adapter", "endpoint_url": url,
                  "endpoint_model": "tune",
                  "endpoint_base_model": "base", "api_key_env": "TRELLIS_EVAL_TEST_KEY",
                  "prompt_variant": "plain"},
        )  # fmt: skip
        assert started.status_code == 202, started.text
        run_jobs()
    run = db.get(EvaluationRun, started.json()["id"])
    assert run is not None
    db.refresh(run)
    assert run.state == "succeeded", run.error
    (summary,) = run.report["sets"]  # type: ignore[index]
    assert summary["tune"]["mean"] >= 0.75 and summary["gain"]["delta"] == 0.0
    assert run.verdict == "ship_prompt" and run.passed is False
    row = {c.name: getattr(run, c.name) for c in EvaluationRun.__table__.columns}
    assert secret not in json.dumps(row, default=str)
    assert run.api_key_env == "TRELLIS_EVAL_TEST_KEY"
