"""Training pages: the form with presets and field errors, the live estimate, a run page with
its curve, the runs list with two runs on one chart, and the Training tab."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.config import Settings
from app.models import Project, Role, User
from app.training_runs import repository, service
from tests.factories import add_member, login, make_user
from tests.training.web_fixtures import request, snapshot_of

PAGES = "/projects/demo/training"


def test_form_estimate_errors_run_page_and_compare(
    client: TestClient, db: Session, project: Project, engineer: User, settings: Settings,
    tmp_path: Path, tiny_model: Path,
) -> None:  # fmt: skip
    snapshot = snapshot_of(db, project, tmp_path, settings.export_dir)
    csrf = login(client, engineer.email)
    export_page = client.get(f"/projects/demo/exports/{snapshot.id}")
    assert f"{PAGES}/new?export_id={snapshot.id}&amp;method=sft" in export_page.text
    form = client.get(f"{PAGES}/new", params={"export_id": snapshot.id})
    assert form.status_code == 200 and 'value="paged_adamw_8bit" selected' in form.text
    assert 'name="lora_rank"' in form.text and ">Training</a>" in form.text
    full = client.get(f"{PAGES}/new", params={"export_id": snapshot.id, "preset": "full"})
    assert "galore_adamw" in full.text and 'value="2e-05"' in full.text
    estimate = client.get(f"{PAGES}/estimate", params={
        "export_id": snapshot.id, "base_model": str(tiny_model), "sequence_len": "64"})  # fmt: skip
    assert "fits a 8 GB GPU" in estimate.text

    fields = {"csrf_token": csrf, "export_id": str(snapshot.id), "method": "sft",
              "preset": "qlora", "backend": "local", "base_model": str(tiny_model),
              "gpus": "0", "cpus": "1", "lora_alpha": "0", "lora_targets": "q_proj"}  # fmt: skip
    bad = client.post(PAGES, data=fields)
    assert bad.status_code == 422 and 'id="lora_alpha-error"' in bad.text
    wrong = client.post(PAGES, data={**fields, "lora_alpha": "32", "method": "dpo"})
    assert wrong.status_code == 422 and "trl_preference format" in wrong.text
    assert service.list_for(db, project) == []

    runs = []
    for rank in (8, 16):
        data = request(snapshot.id, tiny_model, lora_rank=rank)
        run = service.create(
            db, project, engineer, data, data_dir=settings.data_dir, export_root=settings.export_dir
        )
        repository.add_metrics(db, run.id, [
            (i, {"event": "train", "step": i + 1, "loss": 3.0 - i, "eval_loss": None})
            for i in range(3)])  # fmt: skip
        runs.append(run)
    db.commit()
    page = client.get(f"{PAGES}/{runs[0].id}")
    assert (
        page.status_code == 200
        and "<polyline" in page.text
        and 'hx-trigger="every 2s"' in page.text
    )
    assert f"/projects/demo/exports/{snapshot.id}" in page.text and ">Cancel</button>" in page.text
    live = client.get(f"{PAGES}/{runs[0].id}", headers={"HX-Request": "true"})
    assert live.text.lstrip().startswith('<div id="live"')
    listing = client.get(PAGES, params={"a": runs[0].id, "b": runs[1].id})
    assert listing.text.count("<polyline") == 2 and f"run {runs[1].id} train loss" in listing.text
    cancelled = client.post(f"{PAGES}/{runs[0].id}/cancel", data={"csrf_token": csrf},
                            follow_redirects=False)  # fmt: skip
    assert cancelled.status_code == 303
    db.expire_all()
    assert service.get(db, project, runs[0].id).state == "cancelled"  # never submitted


def test_annotators_look_but_cannot_start(
    client: TestClient, db: Session, project: Project, settings: Settings
) -> None:
    annotator = make_user(db, "look@example.com", Role.annotator)
    add_member(db, project, annotator, Role.annotator)
    login(client, annotator.email)
    assert client.get(PAGES).status_code == 200
    assert client.get(f"{PAGES}/new").status_code == 403
