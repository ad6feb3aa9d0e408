from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import ApiToken, User


def by_email(db: Session, email: str) -> User | None:
    return db.scalar(select(User).where(func.lower(User.email) == email.lower()))


def get(db: Session, user_id: int) -> User | None:
    return db.get(User, user_id)


def count(db: Session) -> int:
    return int(db.scalar(select(func.count()).select_from(User)) or 0)


def all_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.email)))


def add(db: Session, obj: User | ApiToken) -> None:
    db.add(obj)
    db.flush()


def tokens_of(db: Session, user_id: int | None) -> list[ApiToken]:
    query = select(ApiToken).order_by(ApiToken.id.desc())
    if user_id is not None:
        query = query.where(ApiToken.user_id == user_id)
    return list(db.scalars(query))


def token(db: Session, token_id: int) -> ApiToken | None:
    return db.get(ApiToken, token_id)
