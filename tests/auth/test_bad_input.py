"""Ordinary bad input answers 4xx with a clear message, never 5xx (point 7 of the hardening
issue): ids beyond int4/int8 in paths, queries and bodies; NUL characters; lone surrogates."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, User
from tests.factories import bearer

HUGE = [2**31, 2**63, 10**30]


@pytest.mark.parametrize("number", HUGE)
def test_ids_out_of_range_in_paths_are_404(
    client: TestClient, db: Session, engineer: User, project: Project, number: int
) -> None:
    headers = bearer(client, db, engineer)
    for url in (f"/api/projects/demo/examples/{number}", f"/api/jobs/{number}",
                f"/api/projects/demo/pairs/{number}"):  # fmt: skip
        response = client.get(url, headers=headers)
        assert response.status_code == 404, (url, response.text)
        assert "SQL" not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("number", HUGE)
def test_ids_out_of_range_in_bodies_and_queries_are_4xx(
    client: TestClient, db: Session, engineer: User, project: Project, number: int
) -> None:
    headers = bearer(client, db, engineer)
    body = client.post("/api/projects/demo/selections",
                       json={"name": "s", "examples": [number]}, headers=headers)  # fmt: skip
    assert 400 <= body.status_code < 500, body.text
    export = client.post(
        "/api/projects/demo/exports",
        json={"format": "messages", "selection_id": number},
        headers=headers,
    )
    assert 400 <= export.status_code < 500, export.text
    query = client.get(f"/api/projects/demo/examples?limit={number}", headers=headers)
    assert query.status_code == 422


def test_nul_and_lone_surrogates_in_json_are_422(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    headers = {**bearer(client, db, engineer), "content-type": "application/json"}
    for raw, what in (
        (b'{"name": "a\\u0000b"}', "NUL"),
        (b'{"name": "a\\ud800b"}', "lone surrogate"),
        (b'{"name": "x", "description": "\\udfff"}', "lone surrogate"),
        (b'{"name\\u0000": "x"}', "NUL"),
    ):
        response = client.post("/api/projects/demo/selections", content=raw, headers=headers)
        assert response.status_code == 422, response.text
        assert what in response.json()["message"]
    # A surrogate pair (an emoji written the way json.dumps does by default) is fine.
    emoji = b'{"description": "smile \\ud83d\\ude00"}'
    ok = client.patch("/api/projects/demo", content=emoji, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["description"] == "smile \U0001f600"


def test_nul_in_urls_and_forms_is_4xx(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    headers = bearer(client, db, engineer)
    assert client.get("/api/projects/demo/examples?q=a%00b", headers=headers).status_code == 422
    assert client.get("/api/projects/de%00mo", headers=headers).status_code == 422
    form = client.post(
        "/api/projects/demo/eval-sets",
        data={"name": "bad\x00name"},
        files={"file": ("e.jsonl", b'{"prompt": "p"}\n')},
        headers=headers,
    )
    # SQLite stores a NUL in a multipart field; PostgreSQL refuses it, which must be a 422.
    postgres = db.get_bind().dialect.name == "postgresql"
    assert form.status_code == 422 if postgres else form.status_code < 500, form.text
    page_form = client.post("/login", data={"email": "a\x00b@example.com", "password": "x"})
    assert page_form.status_code == 422
