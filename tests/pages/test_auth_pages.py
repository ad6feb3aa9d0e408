"""Logging in and out, CSRF on forms, redirects for visitors."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.models import User
from app.web.cookies import CSRF_COOKIE, SESSION_COOKIE
from tests.factories import PASSWORD, login

CSRF = re.compile(r'name="csrf-token" content="([^"]*)"')


def _login_token(client: TestClient) -> str:
    page = client.get("/login")
    found = CSRF.search(page.text)
    assert found
    assert found.group(1)
    return found.group(1)


def test_empty_database_login_page_says_how_to_create_an_admin(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "trellis user create --email you@example.com --role admin" in page.text
    assert CSRF_COOKIE in page.cookies


def test_login_then_logout(client: TestClient, engineer: User) -> None:
    token = _login_token(client)
    response = client.post(
        "/login",
        data={"email": engineer.email, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/projects"
    cookie = response.headers["set-cookie"]
    assert SESSION_COOKIE in cookie
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "trellis user create" not in client.get("/login").text  # users exist now
    home = client.get("/projects")
    assert home.status_code == 200
    assert engineer.email in home.text
    session_token = CSRF.search(home.text).group(1)  # type: ignore[union-attr]

    out = client.post("/logout", data={"csrf_token": session_token}, follow_redirects=False)
    assert out.status_code == 303
    assert out.headers["location"] == "/login"
    after = client.get("/projects", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/login")


def test_wrong_password_shows_an_error(client: TestClient, engineer: User) -> None:
    token = _login_token(client)
    response = client.post(
        "/login",
        data={"email": engineer.email, "password": "not the password", "csrf_token": token},
    )
    assert response.status_code == 401
    assert "wrong email or password" in response.text
    assert f'value="{engineer.email}"' in response.text
    assert SESSION_COOKIE not in response.cookies


def test_post_without_csrf_token_is_refused(client: TestClient, engineer: User) -> None:
    _login_token(client)
    response = client.post("/login", data={"email": engineer.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in response.text

    login(client, engineer.email)
    assert client.post("/projects", data={"slug": "nope"}).status_code == 403
    assert client.post("/logout").status_code == 403
    assert (
        client.post("/projects", data={"slug": "nope", "csrf_token": "forged"}).status_code == 403
    )


def test_next_is_honoured_only_for_same_site_paths(client: TestClient, engineer: User) -> None:
    for target, expected in [
        ("/projects/new", "/projects/new"),
        ("https://evil.example/", "/projects"),
        ("//evil.example/x", "/projects"),
        ("/\\evil.example", "/projects"),
        ("javascript:alert(1)", "/projects"),
    ]:
        client.cookies.clear()
        token = _login_token(client)
        response = client.post(
            "/login",
            data={
                "email": engineer.email,
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == expected, target


def test_visitors_are_sent_to_login_and_home_redirects(client: TestClient, engineer: User) -> None:
    response = client.get("/projects/demo/examples", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/projects/demo/examples"
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    login(client, engineer.email)
    assert client.get("/", follow_redirects=False).headers["location"] == "/projects"
    assert client.get("/login", follow_redirects=False).status_code == 303


def test_pages_send_security_headers_and_no_inline_script(
    client: TestClient, engineer: User
) -> None:
    login(client, engineer.email)
    page = client.get("/projects")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert re.search(r"<script(?![^>]*\bsrc=)", page.text) is None
    assert '<script src="/static/vendor/htmx.min.js' in page.text
    assert client.get("/static/vendor/htmx.min.js").status_code == 200
    assert "X-CSRF-Token" in client.get("/static/app.js").text
