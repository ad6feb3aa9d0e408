from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.models import Project, User
from tests.factories import add_member, bearer, login


def test_api_requires_authentication(client: TestClient) -> None:
    response = client.get("/api/projects")
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_bearer_token_works_and_revocation_stops_it(
    client: TestClient, db: Session, engineer: User, project: Project
) -> None:
    headers = bearer(client, db, engineer)
    assert client.get("/api/projects", headers=headers).json()[0]["slug"] == "demo"
    tokens = client.get("/api/tokens", headers=headers).json()
    assert tokens[0]["last_used_at"] is not None
    assert client.delete(f"/api/tokens/{tokens[0]['id']}", headers=headers).status_code == 200
    response = client.get("/api/projects", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]


def test_malformed_authorization_header(client: TestClient) -> None:
    response = client.get("/api/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


def test_token_is_stored_hashed(client: TestClient, db: Session, engineer: User) -> None:
    headers = bearer(client, db, engineer)
    secret = headers["Authorization"].split()[1]
    from sqlalchemy import select

    from app.models import ApiToken

    stored = db.scalars(select(ApiToken.token_hash)).all()
    assert secret not in stored and all(len(h) == 64 for h in stored)


def test_cookie_write_without_csrf_is_refused(client: TestClient, engineer: User) -> None:
    csrf = login(client, engineer.email)
    payload = {"slug": "other", "name": "Other"}
    refused = client.post("/api/projects", json=payload)
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["message"]
    accepted = client.post("/api/projects", json=payload, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201, accepted.text


def test_session_cookie_flags(client: TestClient, engineer: User) -> None:
    page = client.get("/login")
    import re

    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/login",
        data={
            "email": engineer.email,
            "password": "correct horse battery staple",
            "csrf_token": token.group(1),
        },
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # plain http in tests; Secure is set behind https


def test_non_member_gets_404_member_gets_403_for_manage(
    client: TestClient, db: Session, project: Project, annotator: User
) -> None:
    headers = bearer(client, db, annotator)
    assert client.get("/api/projects/demo", headers=headers).status_code == 404
    from app.models import Role

    add_member(db, project, annotator, Role.annotator)
    assert client.get("/api/projects/demo", headers=headers).status_code == 200
    files = {"file": ("a.jsonl", b'{"prompt": "a", "completion": "b"}\n')}
    assert (
        client.post("/api/projects/demo/imports", headers=headers, files=files).status_code == 403
    )


def test_admin_only_user_api(client: TestClient, db: Session, engineer: User, admin: User) -> None:
    assert client.get("/api/users", headers=bearer(client, db, engineer)).status_code == 403
    admin_headers = bearer(client, db, admin)
    created = client.post(
        "/api/users",
        headers=admin_headers,
        json={"email": "new@example.com", "role": "reviewer", "password": "long enough pass"},
    )
    assert created.status_code == 201, created.text
    assert "password" not in created.json()
    short = client.post(
        "/api/users",
        headers=admin_headers,
        json={"email": "x@example.com", "role": "reviewer", "password": "short"},
    )
    assert short.status_code == 422
    assert "password" in short.json()["message"]


def test_session_project_access_in_one_lookup(
    client: TestClient, db: Session, project: Project, annotator: User, admin: User
) -> None:
    """Signed-in requests read the user, the project and the role together: a non-member gets
    the same 404 as for a missing project, on the API and on pages, and the error page does
    not name the project; a member gets in; an admin gets in everywhere."""
    from app.models import Role

    project.name = "Secret Codename"
    db.commit()
    login(client, annotator.email)
    for path in ("/api/projects/demo", "/api/projects/nope"):
        assert client.get(path).status_code == 404
    page = client.get("/projects/demo")
    assert page.status_code == 404
    assert "Secret Codename" not in page.text
    add_member(db, project, annotator, Role.annotator)
    assert client.get("/api/projects/demo").json()["name"] == "Secret Codename"
    assert "Secret Codename" in client.get("/projects/demo").text
    client.cookies.clear()
    login(client, admin.email)
    assert client.get("/api/projects/demo").status_code == 200
