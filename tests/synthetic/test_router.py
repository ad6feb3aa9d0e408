"""The JSON API and the Generate page: engineers only, the key never stored nor shown, bad input
is a 4xx naming the field, forms carry CSRF, user text is escaped, runs show drop counts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ItemStatus, Project, Role, SyntheticSettings, User
from tests.factories import add_member, bearer, conversation, login, make_example, make_user

API = "/api/projects/demo/synthetic"


def test_settings_templates_and_runs_over_the_api(
    client: TestClient, db: Session, project: Project, engineer: User, monkeypatch: object
) -> None:
    headers = bearer(client, db, engineer)
    assert client.get(f"{API}/settings", headers=headers).status_code == 404
    body = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "TRELLIS_GEN_KEY"}
    saved = client.put(f"{API}/settings", json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["api_key_env"] == "TRELLIS_GEN_KEY" and saved.json()["key_set"] is False
    row = db.get(SyntheticSettings, project.id)
    assert row is not None and row.api_key_env == "TRELLIS_GEN_KEY"
    bad = client.put(f"{API}/settings", json={**body, "api_key_env": "sk-live secret"},
                     headers=headers)  # fmt: skip
    assert bad.status_code == 422 and "api_key_env" in bad.text
    assert "sk-live" not in str(row.__dict__)

    template = {"name": "response", "text": "Answer briefly: {instruction}"}
    made = client.post(f"{API}/templates", json=template, headers=headers)
    assert made.status_code == 201 and made.json()["version"] == 1
    missing = client.post(f"{API}/templates", json={"name": "response", "text": "no slot"},
                          headers=headers)  # fmt: skip
    assert missing.status_code == 422 and "{instruction}" in missing.text
    history = client.get(f"{API}/templates/response", headers=headers).json()
    assert [t["version"] for t in history] == [1, 0]

    none = client.post(f"{API}/runs", json={"method": "responses"}, headers=headers)
    assert none.status_code == 422 and "no draft" in none.text
    approved = client.post(f"{API}/runs", json={"method": "self_instruct", "status": "approved"},
                           headers=headers)  # fmt: skip
    assert approved.status_code == 422 and "status" in approved.text
    make_example(db, project, conversation("Explain tides", "Moon."), status=ItemStatus.approved)
    db.commit()
    started = client.post(f"{API}/runs", json={"method": "self_instruct", "count": 2},
                          headers=headers)  # fmt: skip
    assert started.status_code == 202 and started.json()["state"] == "queued"
    run_id = started.json()["id"]
    assert "api_key" not in str(started.json()["params"]["endpoint"].get("key", ""))
    assert client.get(f"{API}/runs/{run_id}", headers=headers).json()["job_id"]
    cancelled = client.post(f"{API}/runs/{run_id}/cancel", headers=headers)
    assert cancelled.status_code == 202
    assert client.get(f"{API}/provenance/999", headers=headers).status_code == 404


def test_only_engineers_manage_generation(
    client: TestClient, db: Session, project: Project
) -> None:
    reviewer = make_user(db, "rev@example.com", Role.reviewer)
    add_member(db, project, reviewer, Role.reviewer)
    db.commit()
    headers = bearer(client, db, reviewer)
    body = {"base_url": "http://x", "model": "m"}
    assert client.put(f"{API}/settings", json=body, headers=headers).status_code == 403
    assert (
        client.post(f"{API}/runs", json={"method": "responses"}, headers=headers).status_code == 403
    )
    assert client.get(f"{API}/runs", headers=headers).status_code == 200
    login(client, reviewer.email)
    assert client.get("/projects/demo/generate").status_code == 403


def test_generate_page_forms(
    client: TestClient, db: Session, project: Project, engineer: User
) -> None:
    token = login(client, engineer.email)
    page = client.get("/projects/demo/generate")
    assert page.status_code == 200 and "Start a generation" in page.text
    assert page.text.count('name="csrf_token"') >= 3
    no_csrf = client.post("/projects/demo/generate/settings", data={"base_url": "http://x"})
    assert no_csrf.status_code == 403
    bad = client.post("/projects/demo/generate/settings",
                      data={"csrf_token": token, "base_url": "ftp://x", "model": "m"})  # fmt: skip
    assert bad.status_code == 422 and "must start with http" in bad.text
    evil = "<script>alert(1)</script>"
    saved = client.post(
        "/projects/demo/generate/settings",
        data={"csrf_token": token, "base_url": "http://127.0.0.1:9", "model": evil,
              "temperature": "0.5", "max_tokens": "64", "concurrency": "2",
              "max_requests": "10", "timeout_s": "5"},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    template = client.post(
        "/projects/demo/generate/templates",
        data={"csrf_token": token, "name": "response", "text": evil + " {instruction}"},
        follow_redirects=False,
    )
    assert template.status_code == 303
    run = client.post("/projects/demo/generate/runs",
                      data={"csrf_token": token, "method": "self_instruct", "count": "3",
                            "status": "draft", "example_ids": "1, x"})  # fmt: skip
    assert run.status_code == 422 and "example ids are numbers" in run.text
    run = client.post("/projects/demo/generate/runs",
                      data={"csrf_token": token, "method": "self_instruct", "count": "3",
                            "status": "draft", "seed_tasks": "Explain tides\nName a river"},
                      follow_redirects=False)  # fmt: skip
    assert run.status_code == 303
    page = client.get("/projects/demo/generate")
    assert evil not in page.text and "&lt;script&gt;" in page.text
    assert "self instruct" in page.text and "queued" in page.text
    assert db.scalars(select(SyntheticSettings)).one().model == evil
