"""Feedback over HTTP: the API and the page, run as jobs; roles, CSRF, escaping, the mapping
remembered per project, bad files answered 4xx naming the line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, Role, User
from tests.factories import bearer, login, make_member
from tests.feedback.helpers import LOG

RunJobs = Callable[[], list[int]]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def test_api_import_pair_stats_and_provenance(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    headers = bearer(client, db, engineer)
    job = client.post("/api/projects/demo/feedback/imports", headers=headers,
                      files={"file": ("log.jsonl.gz", gzip.compress(jsonl(LOG)))})  # fmt: skip
    assert job.status_code == 202, job.text
    assert run_jobs() == [job.json()["id"]]
    done = client.get(f"/api/jobs/{job.json()['id']}", headers=headers).json()
    assert done["state"] == "succeeded", done
    assert done["result"]["imported"] == 8

    pairing = client.post("/api/projects/demo/feedback/pairings", headers=headers,
                          json={"mode": "best_worst"})  # fmt: skip
    assert pairing.status_code == 202
    run_jobs()
    result = client.get(f"/api/jobs/{pairing.json()['id']}", headers=headers).json()["result"]
    assert result["pairs_created"] == 3
    stats = client.get("/api/projects/demo/feedback", headers=headers).json()
    assert stats["pairs_by_status"] == {"submitted": 3} and stats["pairable_prompts"] == 3
    queue = client.get("/api/projects/demo/pairs?status=submitted", headers=headers).json()
    pair = next(p for p in queue["items"] if p["source"] == "feedback")
    where = client.get(f"/api/projects/demo/feedback/pairs/{pair['id']}", headers=headers).json()
    assert {e["chosen"] for e in where["entries"]} == {True, False}
    assert all(e["log_id"].startswith("e") and e["file"] == "log.jsonl.gz"
               for e in where["entries"])  # fmt: skip


def test_mapping_is_remembered_for_the_next_api_import(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    headers = bearer(client, db, engineer)
    rows = [{"question": "Hi?", "answer": "Hello.", "thumb": "up"}]
    first = client.post("/api/projects/demo/feedback/imports", headers=headers,
                        data={"prompt_field": "question", "response_field": "answer",
                              "rating_field": "thumb"},
                        files={"file": ("a.jsonl", jsonl(rows))})  # fmt: skip
    run_jobs()
    assert client.get(f"/api/jobs/{first.json()['id']}", headers=headers).json()["state"] == (
        "succeeded"
    )
    saved = client.get("/api/projects/demo/feedback/mapping", headers=headers).json()
    assert saved["prompt"] == "question" and saved["messages"] is None
    again = jsonl([{**rows[0], "answer": "Hey."}])
    second = client.post("/api/projects/demo/feedback/imports", headers=headers,
                         files={"file": ("b.jsonl", again)})  # fmt: skip
    run_jobs()
    done = client.get(f"/api/jobs/{second.json()['id']}", headers=headers).json()
    assert done["state"] == "succeeded" and done["result"]["imported"] == 1


def test_bad_file_fails_the_job_naming_file_line_and_field(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    headers = bearer(client, db, engineer)
    rows = [LOG[0], {"prompt": "q", "response": "r", "rating": "sideways"}]
    job = client.post("/api/projects/demo/feedback/imports", headers=headers,
                      files={"file": ("bad.jsonl", jsonl(rows))}).json()  # fmt: skip
    run_jobs()
    done = client.get(f"/api/jobs/{job['id']}", headers=headers).json()
    assert done["state"] == "failed"
    assert "bad.jsonl" in done["error"] and "line 2, field rating" in done["error"]
    assert client.get("/api/projects/demo/feedback", headers=headers).json()["entries"] == 0
    bad = client.post("/api/projects/demo/feedback/pairings", headers=headers,
                      json={"mode": "random"})  # fmt: skip
    assert bad.status_code == 422


def test_roles(client: TestClient, db: Session, project: Project) -> None:
    reviewer = make_member(db, project, "rev@example.com", Role.reviewer)
    headers = bearer(client, db, reviewer)
    assert client.get("/api/projects/demo/feedback", headers=headers).status_code == 200
    refused = [
        client.post("/api/projects/demo/feedback/imports", headers=headers,
                    files={"file": ("a.jsonl", jsonl(LOG))}),
        client.post("/api/projects/demo/feedback/pairings", headers=headers, json={}),
        client.put("/api/projects/demo/feedback/mapping", headers=headers, json={"prompt": "q"}),
    ]  # fmt: skip
    assert [r.status_code for r in refused] == [403, 403, 403]
    token = login(client, reviewer.email)
    page = client.get("/projects/demo/feedback")
    assert page.status_code == 200 and "Rated responses" in page.text
    assert "feedback-import-form" not in page.text  # no forms for a reviewer
    posted = client.post("/projects/demo/feedback/pair", data={"csrf_token": token})
    assert posted.status_code == 403


def test_page_forms_need_csrf_and_escape_what_they_echo(
    client: TestClient, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    token = login(client, engineer.email)
    page = client.get("/projects/demo/feedback")
    assert page.status_code == 200 and 'name="csrf_token"' in page.text
    assert 'href="/projects/demo/feedback"' in page.text  # the project tab
    upload = {"file": ("log.jsonl", jsonl(LOG), "application/jsonl")}
    no_token = client.post("/projects/demo/feedback/import", files=upload,
                           follow_redirects=False)  # fmt: skip
    assert no_token.status_code == 403
    evil = "<script>alert(1)</script>"
    shown = client.post("/projects/demo/feedback/import",
                        data={"csrf_token": token, "prompt_field": evil, "rating_field": "x" * 300},
                        follow_redirects=False)  # fmt: skip
    assert shown.status_code == 422
    assert evil not in shown.text and "&lt;script&gt;" in shown.text
    assert "choose a feedback file" in shown.text

    sent = client.post("/projects/demo/feedback/import", data={"csrf_token": token},
                       files=upload, follow_redirects=False)  # fmt: skip
    assert sent.status_code == 303 and sent.headers["location"].startswith("/jobs/")
    run_jobs()
    summary = client.get(sent.headers["location"]).text
    assert "Feedback import summary" in summary and "<dd>8</dd>" in summary
    paired = client.post("/projects/demo/feedback/pair",
                         data={"csrf_token": token, "mode": "all", "max_per_prompt": "5"},
                         follow_redirects=False)  # fmt: skip
    assert paired.status_code == 303
    run_jobs()
    after = client.get("/projects/demo/feedback").text
    assert "3 submitted" in after
    bad = client.post("/projects/demo/feedback/pair",
                      data={"csrf_token": token, "mode": "all", "max_per_prompt": "0"})  # fmt: skip
    assert bad.status_code == 422


def test_project_dashboard_shows_feedback_figures(
    client: TestClient, db: Session, engineer: User, project: Project, run_jobs: RunJobs
) -> None:
    login(client, engineer.email)
    assert "feedback-figures" not in client.get("/projects/demo/dashboard").text
    headers = bearer(client, db, engineer)
    client.post("/api/projects/demo/feedback/imports", headers=headers,
                files={"file": ("log.jsonl", jsonl(LOG))})  # fmt: skip
    client.post("/api/projects/demo/feedback/pairings", headers=headers, json={})
    run_jobs()
    page = client.get("/projects/demo/dashboard").text
    assert "8 rated responses: 50% up, 38% down" in page
    assert "3 of 4 prompts have both (pairable)" in page and "3 pairs created (3 submitted)" in page
