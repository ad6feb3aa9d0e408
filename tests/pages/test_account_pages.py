"""API tokens and user administration."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Role, User
from app.users import service as users
from tests.factories import PASSWORD, login


def test_token_secret_is_shown_once_and_revoke_works(
    client: TestClient, db: Session, engineer: User
) -> None:
    token = login(client, engineer.email)
    assert client.get("/tokens").status_code == 200
    invalid = client.post("/tokens", data={"name": "  ", "csrf_token": token})
    assert invalid.status_code == 422
    assert "field-error" in invalid.text
    created = client.post("/tokens", data={"name": "ci <export>", "csrf_token": token})
    assert created.status_code == 201
    secret = re.search(r'<pre class="secret"><code>([^<]+)</code>', created.text).group(1)  # type: ignore[union-attr]
    assert "ci &lt;export&gt;" in created.text
    assert client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listing = client.get("/tokens").text
    assert secret not in listing
    assert "ci &lt;export&gt;" in listing

    token_id = users.list_tokens(db, engineer)[0].id
    revoked = client.post(
        f"/tokens/{token_id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert revoked.status_code == 303
    assert client.get("/api/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert "revoked" in client.get("/tokens").text


def test_admin_manages_users(client: TestClient, db: Session, admin: User, annotator: User) -> None:
    token = login(client, admin.email)
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert annotator.email in page.text
    assert 'href="/admin/users"' in page.text

    short = client.post(
        "/admin/users",
        data={
            "email": "new@example.com",
            "role": "reviewer",
            "password": "short",
            "csrf_token": token,
        },
    )
    assert short.status_code == 422
    assert "at least 10 characters" in short.text
    dup = client.post(
        "/admin/users",
        data={
            "email": annotator.email,
            "role": "reviewer",
            "password": PASSWORD,
            "csrf_token": token,
        },
        headers={"HX-Request": "true"},
    )
    assert dup.status_code == 422
    assert "already exists" in dup.text
    assert "<html" not in dup.text
    ok = client.post(
        "/admin/users",
        data={
            "email": "new@example.com",
            "role": "reviewer",
            "password": PASSWORD,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303

    client.post(f"/admin/users/{annotator.id}", data={"role": "engineer", "csrf_token": token})
    client.post(f"/admin/users/{annotator.id}", data={"active": "false", "csrf_token": token})
    db.refresh(annotator)
    assert annotator.role is Role.engineer
    assert annotator.active is False
    self_demote = client.post(
        f"/admin/users/{admin.id}", data={"active": "false", "csrf_token": token}
    )
    assert self_demote.status_code == 409


def test_non_admins_cannot_manage_users(client: TestClient, engineer: User) -> None:
    token = login(client, engineer.email)
    assert 'href="/admin/users"' not in client.get("/projects").text
    assert client.get("/admin/users").status_code == 403
    response = client.post(
        "/admin/users",
        data={"email": "x@example.com", "role": "admin", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 403
