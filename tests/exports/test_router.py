from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.models import ItemStatus, Project, Role, User
from tests.factories import SHARED_DATA, add_member, bearer, login


def _seed(db: Session, project: Project) -> None:
    import_file(
        db, project_id=project.id, path=SHARED_DATA / "alpaca_5000.json", user_id=None,
        options=ImportOptions(status=ItemStatus.approved),
    )  # fmt: skip
    db.commit()


def test_export_api_round_trip(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    _seed(db, project)
    headers = bearer(client, db, engineer)
    created = client.post(
        "/api/projects/demo/exports",
        json={"format": "messages", "validation_fraction": 0.05},
        headers=headers,
    )
    assert created.status_code == 202, created.text
    snapshot = created.json()
    assert snapshot["state"] == "pending" and snapshot["job_id"]
    run_jobs()
    ready = client.get(f"/api/projects/demo/exports/{snapshot['id']}", headers=headers).json()
    assert ready["state"] == "ready", ready
    files = ready["manifest"]["files"]
    assert {"sft_train.jsonl", "sft_validation.jsonl", "items.jsonl"} <= set(files)
    body = client.get(
        f"/api/projects/demo/exports/{snapshot['id']}/files/sft_train.jsonl", headers=headers
    )
    assert body.status_code == 200
    assert hashlib.sha256(body.content).hexdigest() == files["sft_train.jsonl"]["sha256"]
    manifest = client.get(
        f"/api/projects/demo/exports/{snapshot['id']}/files/manifest.json", headers=headers
    )
    assert manifest.json()["files"] == files
    missing = client.get(
        f"/api/projects/demo/exports/{snapshot['id']}/files/..%2F..%2Fsecret_key", headers=headers
    )
    assert missing.status_code == 404
    listed = client.get("/api/projects/demo/exports", headers=headers).json()
    assert [s["id"] for s in listed] == [snapshot["id"]]


def test_export_api_validation_and_roles(
    client: TestClient, db: Session, project: Project, annotator: User, engineer: User
) -> None:
    headers = bearer(client, db, engineer)
    bad = client.post("/api/projects/demo/exports", json={"format": "nope"}, headers=headers)
    assert bad.status_code == 422 and "unknown format" in bad.json()["message"]
    bad_template = client.post(
        "/api/projects/demo/exports", json={"format": "text", "template": "nope"}, headers=headers
    )
    assert bad_template.status_code == 422
    other = bearer(client, db, annotator)
    assert client.get("/api/projects/demo/exports", headers=other).status_code == 404
    add_member(db, project, annotator, Role.annotator)
    assert client.get("/api/projects/demo/exports", headers=other).status_code == 200
    assert (
        client.post(
            "/api/projects/demo/exports", json={"format": "messages"}, headers=other
        ).status_code
        == 403
    )


def test_export_pages(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "xss.jsonl"
    path.write_text(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": "<script>alert(1)</script>"},
                    {"role": "assistant", "content": "ok"},
                ]
            }
        )
        + "\n"
    )
    import_file(
        db,
        project_id=project.id,
        path=path,
        user_id=None,
        options=ImportOptions(status=ItemStatus.approved),
    )
    db.commit()
    csrf = login(client, engineer.email)
    page = client.get("/projects/demo/exports")
    assert page.status_code == 200 and "New export" in page.text
    bad = client.post(
        "/projects/demo/exports",
        data={"csrf_token": csrf, "format": "messages", "validation_fraction": "0.9"},
    )
    assert bad.status_code == 422 and "validation_fraction" in bad.text
    posted = client.post(
        "/projects/demo/exports",
        data={
            "csrf_token": csrf,
            "format": "text",
            "template": "chatml",
            "status": "approved",
            "validation_fraction": "0",
        },
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text
    run_jobs()
    detail = client.get(posted.headers["location"])
    assert detail.status_code == 200
    assert "<script>alert(1)</script>" not in detail.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text
    assert "Quality gates" in detail.text and "sft_train.jsonl" in detail.text


def test_export_page_takes_a_template_file(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    _seed(db, project)
    csrf = login(client, engineer.email)
    form = {"csrf_token": csrf, "format": "text", "status": "approved", "validation_fraction": "0"}
    template = b"{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    files = {"template_file": ("chat_template.jinja", template)}
    posted = client.post("/projects/demo/exports", data=form, files=files, follow_redirects=False)
    assert posted.status_code == 303, posted.text
    run_jobs()
    assert "custom:chat_template" in client.get(posted.headers["location"]).text
    broken = client.post(
        "/projects/demo/exports", data=form, files={"template_file": ("mine.jinja", b"{% if %}")}
    )
    assert broken.status_code == 422
    assert "mine.jinja" in broken.text
