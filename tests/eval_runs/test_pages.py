"""The evaluation pages: roles (reviewers read, engineers configure), CSRF on every form, eval
text and model outputs escaped, the gate report on the run and training-run pages, the
regression filter, and "Write a similar training example" (blank form, copies refused, a new
draft tagged eval-gap:<set>:<category>, checked for contamination like any edit)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.eval_runs import service
from app.models import (
    ContaminationRun,
    EvalSet,
    EvaluationRun,
    Example,
    ItemStatus,
    Job,
    Project,
    Role,
    TrainingRun,
    User,
)
from tests.eval_runs.conftest import HOSTILE
from tests.factories import login, make_member

pytestmark = pytest.mark.filterwarnings(
    "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"
)


def as_member(client: TestClient, db: Session, project: Project, role: Role) -> str:
    make_member(db, project, f"{role.value}@example.com", role)
    return login(client, f"{role.value}@example.com")


def test_reviewer_reads_the_report_items_and_regressions(
    client: TestClient, db: Session, project: Project, finished_run: EvaluationRun
) -> None:
    as_member(client, db, project, Role.reviewer)
    base = f"/projects/{project.slug}/evaluation"
    listing = client.get(base)
    assert listing.status_code == 200
    assert f'href="{base}/{finished_run.id}"' in listing.text and "Ship the tune" in listing.text
    assert "87.5" in listing.text  # the tune's 7 of 8, beside the best prompt's 12.5
    assert "New evaluation" not in listing.text  # engineers only

    page = client.get(f"{base}/{finished_run.id}")
    assert page.status_code == 200
    assert "Ship the tune" in page.text and "min gain" in page.text and "pass" in page.text

    items = client.get(f"{base}/{finished_run.id}/items")
    assert items.status_code == 200
    assert "<script>alert" not in items.text
    assert "&lt;script&gt;alert(&#39;tune&#39;)&lt;/script&gt; 4" in items.text
    assert "&lt;b&gt;8&lt;/b&gt;" in items.text and items.text.count("eval-item") == 8
    regressions = client.get(f"{base}/{finished_run.id}/items?regressions=1")
    assert regressions.text.count('class="card eval-item"') == 1
    assert "2 + 3 =" in regressions.text and "4 + 4 =" not in regressions.text


def test_annotators_see_no_evaluation_and_reviewers_configure_nothing(
    client: TestClient, db: Session, project: Project, finished_run: EvaluationRun
) -> None:
    base = f"/projects/{project.slug}/evaluation"
    as_member(client, db, project, Role.annotator)
    for path in (base, f"{base}/{finished_run.id}", f"{base}/{finished_run.id}/items",
                 f"/api/projects/{project.slug}/evaluation/runs"):  # fmt: skip
        assert client.get(path).status_code == 403, path
    client.cookies.clear()
    token = as_member(client, db, project, Role.reviewer)
    assert client.get(f"{base}/settings").status_code == 403
    assert client.get(f"{base}/new").status_code == 403
    started = client.post(base, data={"csrf_token": token, "base_model": "x"})
    assert started.status_code == 403


def test_settings_page_saves_with_csrf_and_names_bad_fields(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet
) -> None:
    token = login(client, engineer.email)
    url = f"/projects/{project.slug}/evaluation/settings"
    page = client.get(url)
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    form = dict(re.findall(r'<input name="([^"]+)" value="([^"]*)"', page.text))
    form.update({f"set-{arith_set.id}-role": "task", f"set-{arith_set.id}-scorer": "exact_match",
                 "default_min_score": "0.6", "min_refusal_rate": "0.95",
                 "max_capability_drop": "", "capability_tasks": "mmlu_local, hs",
                 "few_shot": "2", f"set-{arith_set.id}-min_score": "0.9"})  # fmt: skip
    assert client.post(url, data=form).status_code == 403  # no CSRF token
    saved = client.post(url, data={**form, "csrf_token": token}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    policy = service.get_policy(db, project)
    assert (policy.default_min_score, policy.min_refusal_rate) == (0.6, 0.95)
    assert policy.max_capability_drop is None and policy.capability_tasks == ["mmlu_local", "hs"]
    assert policy.sets[arith_set.id].min_score == 0.9
    assert policy.sets[arith_set.id].max_new_tokens == 6  # kept as it was

    bad = {**form, "csrf_token": token, "min_refusal_rate": "1.5",
           f"set-{arith_set.id}-pattern": "(unclosed"}  # fmt: skip
    refused = client.post(url, data=bad)
    assert refused.status_code == 422
    assert 'id="min_refusal_rate-error"' in refused.text
    assert f'id="set-{arith_set.id}-pattern-error"' in refused.text
    assert "not a regular expression" in refused.text


def test_engineer_starts_a_run_from_the_form(
    client: TestClient, db: Session, project: Project, engineer: User, arith_set: EvalSet,
    stand_in_run: TrainingRun,
) -> None:  # fmt: skip
    tuned_run = stand_in_run
    token = login(client, engineer.email)
    url = f"/projects/{project.slug}/evaluation"
    form = client.get(f"{url}/new?training_run_id={tuned_run.id}")
    assert form.status_code == 200 and 'value="adapter" selected' in form.text
    missing = client.post(url, data={"csrf_token": token, "model_kind": "prompt",
                                     "base_model": "/no/such/model"})  # fmt: skip
    assert missing.status_code == 422 and "not a local model directory" in missing.text
    endpoint = {"csrf_token": token, "backend": "endpoint", "endpoint_model": "m",
                "endpoint_url": "http://127.0.0.1:9/v1", "api_key_env": "sk-live key"}  # fmt: skip
    bad_env = client.post(url, data=endpoint)
    assert bad_env.status_code == 422 and "environment variable" in bad_env.text
    started = client.post(
        url, follow_redirects=False,
        data={"csrf_token": token, "model_kind": "adapter", "training_run_id": str(tuned_run.id),
              "eval_set_ids": str(arith_set.id), "prompt_variant": "plain"},
    )  # fmt: skip
    assert started.status_code == 303
    run = service.list_runs(db, project)[0]
    assert started.headers["location"] == f"{url}/{run.id}"
    assert run.state == "queued" and run.adapter_path == tuned_run.adapter_path
    assert db.get(Job, run.job_id).kind == "evaluation_run"  # type: ignore[union-attr]
    assert client.get(f"{url}/{run.id}").status_code == 200


def test_training_run_page_shows_the_verdict(
    client: TestClient, db: Session, project: Project, finished_run: EvaluationRun
) -> None:
    as_member(client, db, project, Role.reviewer)
    page = client.get(f"/projects/{project.slug}/training/{finished_run.training_run_id}")
    assert page.status_code == 200
    assert "Ship the tune" in page.text and f"evaluation {finished_run.id}" in page.text


def test_write_a_similar_example_never_copies_the_eval_item(
    client: TestClient, db: Session, project: Project, finished_run: EvaluationRun
) -> None:
    token = as_member(client, db, project, Role.reviewer)
    item = next(r for r in service_results(db, finished_run) if r.regression)
    url = f"/projects/{project.slug}/evaluation/{finished_run.id}/items/{item.eval_item_id}/write"
    form = client.get(url)
    assert form.status_code == 200
    assert "2 + 3 =" not in form.text and HOSTILE not in form.text  # nothing to copy from
    assert "eval-gap:arith:small" in form.text
    assert client.post(url, data={"prompt": "What is 6 + 1?"}).status_code == 403  # CSRF
    copied = client.post(url, data={"csrf_token": token, "prompt": "Compute:  2 + 3 =  please",
                                    "response": "5"})  # fmt: skip
    assert copied.status_code == 422 and "copies the eval item" in copied.text
    made = client.post(url, follow_redirects=False, data={
        "csrf_token": token, "prompt": "What is 6 + 1?", "response": "6 + 1 = 7"})  # fmt: skip
    assert made.status_code == 303
    example = db.scalars(select(Example).order_by(Example.id.desc())).first()
    assert example is not None and made.headers["location"].endswith(f"/examples/{example.id}")
    assert example.status is ItemStatus.draft and example.tags == ["eval-gap:arith:small"]
    assert example.messages[0]["content"] == "What is 6 + 1?"
    check = db.scalars(select(ContaminationRun).order_by(ContaminationRun.id.desc())).first()
    assert check is not None  # the new example is checked against the frozen sets


def service_results(db: Session, run: EvaluationRun):  # type: ignore[no-untyped-def]
    from app.eval_runs import results

    return results.page(db, run).items
