"""Users, credentials and API tokens. Never commits."""

from __future__ import annotations

import re
from functools import lru_cache

from sqlalchemy.orm import Session

from app.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    hash_token,
    needs_rehash,
    new_token,
    verify_password,
)
from app.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from app.models import ApiToken, Role, User
from app.models.base import utcnow
from app.users import repository

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# Verifying against a real hash when the email is unknown keeps timing from revealing accounts.
@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("not-a-real-password-0")


def validate_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must be at least {MIN_PASSWORD_LENGTH} characters")


def create_user(db: Session, *, email: str, password: str, role: Role) -> User:
    email = email.strip()
    if not _EMAIL.match(email):
        raise Invalid(f"'{email}' is not an email address")
    validate_password(password)
    if repository.by_email(db, email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, password_hash=hash_password(password), role=role, active=True)
    repository.add(db, user)
    return user


def has_users(db: Session) -> bool:
    return repository.count(db) > 0


def authenticate(db: Session, email: str, password: str) -> User:
    user = repository.by_email(db, email.strip())
    if user is None:
        verify_password(_dummy_hash(), password)
        raise Unauthorized("wrong email or password")
    if not verify_password(user.password_hash, password):
        raise Unauthorized("wrong email or password")
    if not user.active:
        raise Forbidden("this account is deactivated")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    return user


def get(db: Session, user_id: int) -> User | None:
    return repository.get(db, user_id)


def list_users(db: Session) -> list[User]:
    return repository.all_users(db)


def update_user(
    db: Session, actor: User, user_id: int, *, role: Role | None, active: bool | None
) -> User:
    user = repository.get(db, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if user.id == actor.id and (active is False or (role is not None and role is not Role.admin)):
        raise Conflict("you can't demote or deactivate yourself; ask another admin")
    if role is not None:
        user.role = role
    if active is not None:
        user.active = active
    return user


def create_token(db: Session, user: User, name: str) -> tuple[ApiToken, str]:
    secret = new_token()
    token = ApiToken(
        user_id=user.id, name=name.strip(), prefix=secret[:10], token_hash=hash_token(secret)
    )
    repository.add(db, token)
    return token, secret


def list_tokens(db: Session, user: User) -> list[ApiToken]:
    return repository.tokens_of(db, None if user.role is Role.admin else user.id)


def revoke_token(db: Session, user: User, token_id: int) -> ApiToken:
    token = repository.token(db, token_id)
    if token is None or (user.role is not Role.admin and token.user_id != user.id):
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token


def change_password(db: Session, user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; the caller ends the user's sessions."""
    if not verify_password(user.password_hash, current):
        raise Invalid("the current password is wrong")
    validate_password(new)
    user.password_hash = hash_password(new)
