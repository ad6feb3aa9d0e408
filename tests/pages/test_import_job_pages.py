"""Import form -> job page -> live progress partial -> summary or row errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, Role, User
from tests.factories import add_member, login

RunJobs = Callable[[], list[int]]
GOOD = [
    {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
    {"instruction": "Add 2 and 2", "input": "", "output": "4"},
    {"messages": [{"role": "user", "content": "Open question"}]},
]


def _jsonl(rows: list[object]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _upload(
    client: TestClient, token: str, content: bytes, **fields: str
) -> Any:  # the TestClient's response (httpx or httpx2)
    return client.post(
        "/projects/demo/import",
        data={"csrf_token": token, **fields},
        files={"file": ("data.jsonl", content, "application/jsonl")},
        follow_redirects=False,
    )


def test_import_page_upload_runs_a_job_and_shows_the_summary(
    client: TestClient, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    token = login(client, engineer.email)
    form = client.get("/projects/demo/import")
    assert form.status_code == 200
    assert "auto-detect" in form.text
    assert 'value="preference"' in form.text
    assert 'enctype="multipart/form-data"' in form.text

    rows = [GOOD[0], GOOD[2], GOOD[0]]  # one duplicate
    response = _upload(client, token, _jsonl(rows), format="messages")
    assert response.status_code == 303
    job_url = response.headers["location"]
    job_id = int(job_url.rsplit("/", 1)[1])

    page = client.get(job_url)
    assert page.status_code == 200
    assert 'hx-trigger="every 1s"' in page.text
    assert "queued" in page.text
    assert "<progress" in page.text

    assert run_jobs() == [job_id]
    done = client.get(f"/jobs/{job_id}/progress", headers={"HX-Request": "true"})
    assert done.status_code == 200
    assert "hx-trigger" not in done.text  # finished: polling stops
    assert "Import summary" in done.text
    assert "succeeded" in done.text
    summary = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", done.text))
    assert summary["rows read"] == "3"
    assert summary["examples added"] == "2"
    assert summary["need a response"] == "1"
    assert summary["duplicates skipped"] == "1"
    assert summary["invalid"] == "0"
    assert summary["pairs added"] == "0"
    assert "/projects/demo/examples" in done.text
    assert "2 examples" in client.get("/projects/demo/examples").text


def test_htmx_upload_answers_with_hx_redirect(
    client: TestClient, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    response = client.post(
        "/projects/demo/import",
        data={"csrf_token": token},
        files={"file": ("a.jsonl", _jsonl(GOOD[:1]), "application/jsonl")},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].startswith("/jobs/")


def test_strict_import_with_a_broken_line_names_it(
    client: TestClient, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    token = login(client, engineer.email)
    content = _jsonl(GOOD[:2]) + b'{"messages": [{"role": "user"}]}\n' + _jsonl(GOOD[2:])
    job_url = _upload(client, token, content).headers["location"]
    run_jobs()
    page = client.get(job_url)
    assert page.status_code == 200
    assert "failed" in page.text
    # the bar shows the failure, not an empty 0 %
    assert re.search(r'<progress max="100" value="100"[^>]*: failed">', page.text)
    assert '<span class="progress-value">0%</span>' not in page.text
    assert "line 3" in page.text
    assert "Row errors" in page.text
    assert "hx-trigger" not in page.text
    assert re.search(r'<td class="num">3</td>', page.text)
    assert "0 examples" in client.get("/projects/demo/examples").text


def test_skip_invalid_offers_the_rejects_file(
    client: TestClient, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    token = login(client, engineer.email)
    content = _jsonl(GOOD[:1]) + b"{not json\n"
    job_url = _upload(client, token, content, skip_invalid="on").headers["location"]
    run_jobs()
    page = client.get(job_url).text
    assert "Skipped rows" in page
    assert f"{job_url}/rejects" in page
    rejects = client.get(f"{job_url}/rejects")
    assert rejects.status_code == 200
    assert rejects.headers["content-type"].startswith("application/jsonl")
    assert "attachment" in rejects.headers["content-disposition"]
    assert json.loads(rejects.text.splitlines()[0])["number"] == 2


def test_import_form_errors_are_shown_next_to_the_fields(
    client: TestClient, engineer: User, project: Project
) -> None:
    token = login(client, engineer.email)
    no_file = client.post("/projects/demo/import", data={"csrf_token": token})
    assert no_file.status_code == 422
    assert "choose a file to import" in no_file.text
    empty = _upload(client, token, b"")
    assert empty.status_code == 422
    assert "empty" in empty.text
    generator = _upload(client, token, _jsonl(GOOD), generator="gpt-x")
    assert generator.status_code == 422
    assert "only applies to synthetic" in generator.text
    fmt = _upload(client, token, _jsonl(GOOD), format="yaml")
    assert fmt.status_code == 422
    assert "unknown format" in fmt.text
    status = _upload(client, token, _jsonl(GOOD), status="rejected")
    assert status.status_code == 422
    assert "submitted or approved" in status.text


def test_annotators_cannot_import_and_outsiders_cannot_see_jobs(
    client: TestClient, db: Session, engineer: User, annotator: User, project: Project
) -> None:
    token = login(client, engineer.email)
    job_url = _upload(client, token, _jsonl(GOOD)).headers["location"]
    client.cookies.clear()
    token = login(client, annotator.email)
    assert client.get(job_url).status_code == 404
    add_member(db, project, annotator, Role.annotator)
    page = client.get(job_url)
    assert page.status_code == 200
    assert "Cancel job" not in page.text
    assert client.get("/projects/demo/import").status_code == 403
    assert _upload(client, token, _jsonl(GOOD)).status_code == 403


def test_cancel_a_queued_job(client: TestClient, engineer: User, project: Project) -> None:
    token = login(client, engineer.email)
    job_url = _upload(client, token, _jsonl(GOOD)).headers["location"]
    assert "Cancel job" in client.get(job_url).text
    response = client.post(f"{job_url}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == job_url
    page = client.get(job_url).text
    assert "cancelled" in page
    assert "hx-trigger" not in page
    again = client.post(
        f"{job_url}/cancel", data={"csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert again.status_code == 409
    assert again.headers["HX-Retarget"] == "#toasts"
    assert 'class="toast toast-error"' in again.text
