"""Who is calling: session cookie or bearer token, and their role in a project."""

from __future__ import annotations

from typing import TypeGuard

from fastapi import Request
from sqlalchemy.orm import Session

from app.auth import repository
from app.auth.access import Access
from app.auth.passwords import hash_token
from app.auth.sessions import SessionCodec
from app.errors import Unauthorized
from app.models import Project, Role, User
from app.models.base import utcnow as utcnow_fn
from app.web.cookies import CSRF_COOKIE, SESSION_COOKIE


def authenticate(db: Session, request: Request, *, project_slug: str | None = None) -> Access:
    """Who is calling. With `project_slug` (a project route), a signed-in caller's project and
    role in it come back in `Access` too, read with the user in one query (no project when
    they have no role in it)."""
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("use 'Authorization: Bearer <token>'")
        token = repository.token_by_hash(db, hash_token(secret.strip()))
        if token is None or token.revoked_at is not None:
            raise Unauthorized("invalid or revoked API token")
        user = db.get(User, token.user_id)
        if user is None or not user.active:
            raise Unauthorized("the token's user is inactive")
        repository.touch_token(db, token, utcnow_fn())
        return Access(user=user, via="token")
    codec: SessionCodec = request.app.state.session_codec
    data = codec.load(request.cookies.get(SESSION_COOKIE))
    if data is not None and project_slug is not None:
        user, project, role = repository.user_project_and_role(db, data.user_id, project_slug)
        if live(user, data.generation):
            role = _effective_role(user, project, role)
            # A project the caller has no role in stays unknown (even to the error page).
            visible = project if role is not None else None
            return Access(user=user, via="session", csrf=data.csrf, project=visible,
                          project_role=role)  # fmt: skip
    elif data is not None:
        user = db.get(User, data.user_id)
        if live(user, data.generation):
            return Access(user=user, via="session", csrf=data.csrf)
    return Access(
        user=None, via="anonymous", csrf=codec.load_anonymous(request.cookies.get(CSRF_COOKIE))
    )


def live(user: User | None, generation: int) -> TypeGuard[User]:
    """A session cookie still counts: its user is active and it was issued in the user's
    current session generation (logout and password changes move the generation on)."""
    return user is not None and user.active and user.session_generation == generation


def end_sessions(db: Session, user: User) -> None:
    """Revoke every browser session of `user` (API tokens are revoked one by one)."""
    repository.bump_session_generation(db, user)


def project_access(db: Session, user: User, slug: str) -> tuple[Project | None, Role | None]:
    project, role = repository.project_and_role(db, slug, user.id)
    return project, _effective_role(user, project, role)


def _effective_role(user: User, project: Project | None, role: Role | None) -> Role | None:
    """Admins act as admins in every project; everyone else has their membership's role."""
    if project is not None and user.role is Role.admin:
        return Role.admin
    return role
