from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, User
from tests.factories import SHARED_DATA, bearer


def test_upload_runs_as_a_job_and_reports_counts(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(client, db, engineer)
    with (SHARED_DATA / "alpaca_5000.json").open("rb") as fh:
        response = client.post(
            "/api/projects/demo/imports", headers=headers, files={"file": ("alpaca.json", fh)}
        )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["state"] == "queued"
    assert run_jobs() == [job["id"]]
    done = client.get(f"/api/jobs/{job['id']}", headers=headers).json()
    assert done["state"] == "succeeded", done
    assert done["result"]["examples"] == 5000 and done["result"]["needs_response"] == 2
    stats = client.get("/api/projects/demo/stats", headers=headers).json()
    assert stats["examples"]["total"]["all"] == 5000
    assert stats["examples"]["source"]["imported"] == 5000
    assert stats["examples"]["status"]["draft"] == 2


def test_failed_import_job_names_the_lines(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs
) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(client, db, engineer)
    with (SHARED_DATA / "hh_rlhf_harmless_test.jsonl.gz").open("rb") as fh:
        job = client.post(
            "/api/projects/demo/imports", headers=headers, files={"file": ("hh.jsonl.gz", fh)}
        ).json()
    run_jobs()
    done = client.get(f"/api/jobs/{job['id']}", headers=headers).json()
    assert done["state"] == "failed"
    assert "line 87" in done["error"] and "line 1104" in done["error"]
    assert [e["number"] for e in done["result"]["errors"]] == [87, 517, 926, 1104]
    assert (
        client.get("/api/projects/demo/stats", headers=headers).json()["pairs"]["total"]["all"] == 0
    )


def test_upload_over_the_limit_gets_413(
    client: TestClient, db: Session, engineer: User, project: Project, settings
) -> None:  # type: ignore[no-untyped-def]
    headers = bearer(client, db, engineer)
    big = b"x" * (settings.upload_max_bytes + 1)
    response = client.post(
        "/api/projects/demo/imports", headers=headers, files={"file": ("big.jsonl", big)}
    )
    assert response.status_code == 413
    assert "limit" in response.json()["message"]


def test_other_users_cannot_see_a_job(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    headers = bearer(client, db, engineer)
    job = client.post(
        "/api/projects/demo/imports",
        headers=headers,
        files={"file": ("a.jsonl", b'{"prompt": "a", "completion": "b"}\n')},
    ).json()
    assert (
        client.get(f"/api/jobs/{job['id']}", headers=bearer(client, db, annotator)).status_code
        == 404
    )


def test_streamed_upload_without_length_over_the_limit_gets_413(
    client: TestClient, db: Session, engineer: User, project: Project, settings
) -> None:  # type: ignore[no-untyped-def]
    """No Content-Length to check up front: the body is counted as it streams in."""
    headers = {**bearer(client, db, engineer), "Content-Type": "multipart/form-data; boundary=xyz"}

    def body():  # type: ignore[no-untyped-def]
        yield (
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="big.jsonl"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n"
        )
        chunk = b'{"prompt": "p", "completion": "c"}\n' * 30_000
        sent = 0
        while sent <= settings.upload_max_bytes:
            sent += len(chunk)
            yield chunk
        yield b"\r\n--xyz--\r\n"

    response = client.post("/api/projects/demo/imports", headers=headers, content=body())
    assert response.status_code == 413
    assert not settings.upload_dir.exists() or not any(settings.upload_dir.iterdir())
