"""The JSON API and the Generate page: engineers only, the key never stored nor shown, bad input
is a 4xx naming the field, forms carry CSRF, user text is escaped, runs show drop counts."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ItemStatus, Project, Role, SyntheticRun, SyntheticSettings, User
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


def test_pair_candidates_over_the_api_and_the_page(
    client: TestClient, db: Session, project: Project, engineer: User
) -> None:
    headers = bearer(client, db, engineer)
    body = {"base_url": "http://127.0.0.1:9/v1", "model": "m"}
    assert client.put(f"{API}/settings", json=body, headers=headers).status_code == 200
    same = {"method": "pair_candidates", "temperature_a": 0.8, "temperature_b": 0.8}
    refused = client.post(f"{API}/runs", json=same, headers=headers)
    assert refused.status_code == 422 and "temperature_b" in refused.text
    none = client.post(f"{API}/runs", json={"method": "pair_candidates"}, headers=headers)
    assert none.status_code == 422 and "no approved example" in none.text
    make_example(db, project, conversation("Explain tides", "Moon."), status=ItemStatus.approved)
    db.commit()
    started = client.post(f"{API}/runs", json={"method": "pair_candidates"}, headers=headers)
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["method"] == "pair_candidates"
    assert (run["params"]["temperature_a"], run["params"]["temperature_b"]) == (0.3, 1.0)
    assert client.get(f"{API}/provenance/pairs/999", headers=headers).status_code == 404

    token = login(client, engineer.email)
    page = client.get("/projects/demo/generate")
    assert '<option value="pair_candidates"' in page.text
    assert 'name="temperature_a" type="text" value="0.3"' in page.text
    form = {"csrf_token": token, "method": "pair_candidates", "status": "draft",
            "temperature_a": "0.5", "temperature_b": "0.5"}  # fmt: skip
    bad = client.post("/projects/demo/generate/runs", data=form)
    assert bad.status_code == 422 and "two different temperatures" in bad.text
    form["temperature_b"] = "1.2"
    ok = client.post("/projects/demo/generate/runs", data=form, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    latest = db.scalars(select(SyntheticRun).order_by(SyntheticRun.id.desc())).first()
    assert latest is not None and latest.params["temperature_b"] == 1.2
    latest.counts = {"kept": 3, "dropped_identical_samples": 2, "unanswered": 1}
    db.commit()
    page = client.get("/projects/demo/generate")
    assert "pair candidates" in page.text
    assert "pair: identical samples: 2" in page.text and 'data-count="unanswered"' in page.text
