"""Logout, "log out everywhere" and a password change revoke sessions on the server."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.models import User
from app.web.cookies import SESSION_COOKIE
from tests.factories import PASSWORD, login

NEW_PASSWORD = "a brand new passphrase"


def _fresh(client: TestClient, cookie: str) -> int:
    """Status of /api/me with only this session cookie."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, cookie)
    return client.get("/api/me").status_code


def test_a_saved_cookie_stops_working_after_logout(client: TestClient, engineer: User) -> None:
    token = login(client, engineer.email)
    saved = client.cookies[SESSION_COOKIE]
    assert client.get("/api/me").status_code == 200
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303
    assert _fresh(client, saved) == 401


def test_logout_everywhere_ends_every_browser_session(
    app: object, client: TestClient, engineer: User
) -> None:
    login(client, engineer.email)
    first = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    token = login(client, engineer.email)
    second = client.cookies[SESSION_COOKIE]
    page = client.get("/account")
    assert page.status_code == 200 and "/account/logout-everywhere" in page.text
    out = client.post("/account/logout-everywhere", data={"csrf_token": token},
                      follow_redirects=False)  # fmt: skip
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert _fresh(client, first) == 401
    assert _fresh(client, second) == 401


def test_a_password_change_revokes_other_sessions_and_keeps_this_one(
    client: TestClient, engineer: User
) -> None:
    login(client, engineer.email)
    other = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    token = login(client, engineer.email)
    wrong = client.post("/account/password", data={
        "csrf_token": token, "current_password": "not it", "new_password": NEW_PASSWORD,
        "repeat_password": NEW_PASSWORD})  # fmt: skip
    assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    assert _fresh(client, other) == 200  # nothing revoked by a failed attempt
    client.cookies.clear()
    token = login(client, engineer.email)
    changed = client.post("/account/password", data={
        "csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD,
        "repeat_password": NEW_PASSWORD}, follow_redirects=False)  # fmt: skip
    assert changed.status_code == 303
    mine = changed.cookies.get(SESSION_COOKIE) or client.cookies[SESSION_COOKIE]
    assert _fresh(client, mine) == 200  # this browser got a fresh session
    assert _fresh(client, other) == 401
    client.cookies.clear()
    login(client, engineer.email, NEW_PASSWORD)
