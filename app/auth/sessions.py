"""Signed session cookies carrying the user id and the CSRF token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: int
    csrf: str
    generation: int = 0  # the user's session generation when the cookie was issued


class SessionCodec:
    def __init__(self, secret_key: str, max_age_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt="trellis.session")
        self._anonymous = URLSafeTimedSerializer(secret_key, salt="trellis.csrf")
        self.max_age_s = max_age_s

    def new(self, user_id: int, generation: int = 0) -> tuple[str, SessionData]:
        data = SessionData(user_id=user_id, csrf=secrets.token_urlsafe(32), generation=generation)
        payload = {"uid": data.user_id, "csrf": data.csrf, "gen": generation}
        return self._serializer.dumps(payload), data

    def load(self, cookie: str | None) -> SessionData | None:
        if not cookie:
            return None
        try:
            raw = self._serializer.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        if not isinstance(raw, dict) or not isinstance(raw.get("uid"), int):
            return None
        generation = raw.get("gen", 0)
        if not isinstance(generation, int):
            return None
        return SessionData(user_id=raw["uid"], csrf=str(raw.get("csrf", "")), generation=generation)

    def new_anonymous(self) -> tuple[str, str]:
        """(cookie value, token) for a visitor without a session."""
        token = secrets.token_urlsafe(32)
        return self._anonymous.dumps(token), token

    def load_anonymous(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            token = self._anonymous.loads(cookie, max_age=self.max_age_s)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None
