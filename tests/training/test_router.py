"""The training API with bearer tokens: start, follow, metrics, logs, adapter tar, estimate,
and who may do what (engineers and admins start and cancel; every project role looks)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.models import Project, Role, User
from app.training_runs import lifecycle
from tests.factories import add_member, bearer, make_user
from tests.training.web_fixtures import FAST, snapshot_of, wait_until

API = "/api/projects/demo/training"


def _body(export_id: int, model: Path, **extra: object) -> dict[str, object]:
    return {"export_id": export_id, "method": "sft", "base_model": str(model),
            "resources": {"gpus": 0, "cpus": 1}, "config": FAST, **extra}  # fmt: skip


@pytest.mark.usefixtures("runner_env")
def test_a_run_over_the_api_and_who_may_do_what(
    client: TestClient, db: Session, project: Project, engineer: User, settings: Settings,
    tmp_path: Path, tiny_model: Path, run_jobs, session_factory: sessionmaker[Session],  # type: ignore[no-untyped-def]
) -> None:  # fmt: skip
    snapshot = snapshot_of(db, project, tmp_path, settings.export_dir)
    annotator = make_user(db, "a@example.com", Role.annotator)
    reviewer = make_user(db, "r@example.com", Role.annotator)
    add_member(db, project, annotator, Role.annotator)
    add_member(db, project, reviewer, Role.reviewer)
    eng, ann, rev = (bearer(client, db, u) for u in (engineer, annotator, reviewer))

    for headers in (ann, rev):
        refused = client.post(f"{API}/runs", json=_body(snapshot.id, tiny_model), headers=headers)
        assert refused.status_code == 403, refused.text
    bad = client.post(f"{API}/runs", json=_body(snapshot.id, tiny_model, config={"lora_alpha": -1}),
                      headers=eng)  # fmt: skip
    assert bad.status_code == 422 and "lora_alpha" in bad.json()["message"], bad.text

    estimate = client.get(f"{API}/estimate", headers=ann, params={
        "export_id": snapshot.id, "base_model": str(tiny_model), "lora_rank": "8"})  # fmt: skip
    assert estimate.status_code == 200, estimate.text
    assert estimate.json()["answer"] == "fits a 8 GB GPU" and estimate.json()["total_gib"] > 0

    started = client.post(f"{API}/runs", json=_body(snapshot.id, tiny_model), headers=eng)
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]
    assert started.json()["state"] == "queued" and started.json()["snapshot_id"] == snapshot.id
    run_jobs()
    assert wait_until(
        lambda: lifecycle.poll_run(run_id, session_factory) in ("succeeded", "failed"), 180, 0.5
    )
    for headers in (eng, ann, rev):  # every role looks
        run = client.get(f"{API}/runs/{run_id}", headers=headers)
        assert run.status_code == 200
    body = run.json()
    assert body["state"] == "succeeded", body
    assert body["last_metrics"]["step"] == 6 and body["adapter_path"].endswith("output/adapter")
    assert body["config"]["max_steps"] == 6 and body["config"]["lora_rank"] == 16
    assert [r["id"] for r in client.get(f"{API}/runs", headers=ann).json()] == [run_id]
    metrics = client.get(f"{API}/runs/{run_id}/metrics", headers=rev).json()
    assert [m["step"] for m in metrics if m["event"] == "train"] == [1, 2, 3, 4, 5, 6]
    later = client.get(f"{API}/runs/{run_id}/metrics", params={"after": 3}, headers=rev).json()
    assert [m["seq"] for m in later] == [m["seq"] for m in metrics if m["seq"] > 3]
    logs = client.get(f"{API}/runs/{run_id}/logs", headers=ann).json()
    assert logs["state"] == "succeeded" and logs["text"]

    tar = client.get(f"{API}/runs/{run_id}/artifacts/adapter.tar", headers=ann)
    assert tar.status_code == 200 and tar.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(tar.content)) as archive:
        names = archive.getnames()
        config = archive.extractfile(f"demo-run-{run_id}-adapter/adapter_config.json")
        assert config is not None and b"lora_alpha" in config.read()
    assert f"demo-run-{run_id}-adapter/adapter_model.safetensors" in names

    for headers in (ann, rev):
        assert client.post(f"{API}/runs/{run_id}/cancel", headers=headers).status_code == 403
    finished = client.post(f"{API}/runs/{run_id}/cancel", headers=eng)
    assert finished.status_code == 409  # already succeeded
    assert client.get(f"{API}/runs/999999", headers=eng).status_code == 404
