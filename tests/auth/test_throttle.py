"""Sign-in throttling per account and per client address, without revealing accounts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth import throttle
from app.config import Settings
from app.models import LoginThrottle, User
from app.models.base import utcnow
from tests.factories import PASSWORD


def _attempt(client: TestClient, email: str, password: str) -> tuple[int, str, str | None]:
    client.cookies.clear()
    page = client.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token
    response = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    error = re.search(r'role="alert">([^<]+)<', response.text)
    return (
        response.status_code,
        error.group(1) if error else "",
        response.headers.get("retry-after"),
    )


def test_wrong_passwords_block_the_account_even_for_the_right_one(
    client: TestClient, engineer: User, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures_account):
        status, message, _ = _attempt(client, engineer.email, "wrong password")
        assert status == 401 and message == "wrong email or password"
    status, message, retry = _attempt(client, engineer.email, PASSWORD)
    assert status == 429 and retry is not None and int(retry) > 0
    assert re.fullmatch(r"too many failed sign-ins; try again in \d+ s", message)


def test_unknown_accounts_are_throttled_the_same_way(
    client: TestClient, engineer: User, settings: Settings
) -> None:
    answers = {}
    for email in (engineer.email, "nobody@example.com"):
        seen = [_attempt(client, email, "wrong password")[:2]
                for _ in range(settings.login_max_failures_account + 1)]  # fmt: skip
        answers[email] = [(status, re.sub(r"\d+", "N", msg)) for status, msg in seen]
    assert answers[engineer.email] == answers["nobody@example.com"]
    assert answers[engineer.email][-1][0] == 429


def test_one_address_is_throttled_across_accounts(
    client: TestClient, engineer: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRELLIS_LOGIN_MAX_FAILURES_ADDRESS", "3")
    client.app.state.settings = Settings()  # type: ignore[attr-defined]
    for n in range(3):
        assert _attempt(client, f"guess{n}@example.com", "x")[0] == 401
    assert _attempt(client, engineer.email, PASSWORD)[0] == 429


def test_a_right_password_clears_the_account_count(
    client: TestClient, engineer: User, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures_account - 1):
        _attempt(client, engineer.email, "wrong password")
    assert _attempt(client, engineer.email, PASSWORD)[0] == 303
    assert _attempt(client, engineer.email, "wrong password")[0] == 401  # counting from 1 again


def test_lockouts_double_up_to_the_cap_and_windows_expire(db: Session, settings: Settings) -> None:
    limit = settings.login_max_failures_account
    assert throttle.lockout_s(settings, limit - 1, limit) == 0
    assert throttle.lockout_s(settings, limit, limit) == settings.login_lockout_s
    assert throttle.lockout_s(settings, limit + 1, limit) == 2 * settings.login_lockout_s
    assert throttle.lockout_s(settings, limit + 60, limit) == settings.login_lockout_max_s
    keys = throttle.Keys.of("Someone@Example.com ", "10.0.0.1")
    start = utcnow()
    for _ in range(limit):
        throttle.failed(db, settings, keys, start)
    assert throttle.wait_s(db, keys, start) == settings.login_lockout_s
    later = start + timedelta(seconds=settings.login_window_s + settings.login_lockout_max_s + 1)
    assert throttle.wait_s(db, keys, later) == 0
    throttle.failed(db, settings, keys, later)  # a new window: one failure, and old rows pruned
    row = db.get(LoginThrottle, keys.account)
    assert row is not None and row.failures == 1 and row.blocked_until is None
