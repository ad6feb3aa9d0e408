from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.models import ApiToken, LoginThrottle, Project, ProjectMember, Role, User


def token_by_hash(db: Session, token_hash: str) -> ApiToken | None:
    return db.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))


def touch_token(db: Session, token: ApiToken, now: datetime) -> None:
    # Write at most once a minute so a busy script doesn't turn every read into a write.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        db.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))


def project_by_slug(db: Session, slug: str) -> Project | None:
    return db.scalar(select(Project).where(Project.slug == slug))


def project_and_role(db: Session, slug: str, user_id: int) -> tuple[Project | None, Role | None]:
    """The project with this slug and the user's role in it, in one query."""
    row = db.execute(
        select(Project, ProjectMember.role)
        .outerjoin(
            ProjectMember,
            and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id),
        )
        .where(Project.slug == slug)
    ).first()
    return (None, None) if row is None else (row[0], row[1])


def user_project_and_role(
    db: Session, user_id: int, slug: str
) -> tuple[User | None, Project | None, Role | None]:
    """The user, the project with this slug and the user's role in it, in one query (a
    signed-in request to a project route needs all three)."""
    row = db.execute(
        select(User, Project, ProjectMember.role)
        .select_from(User)
        .outerjoin(Project, Project.slug == slug)
        .outerjoin(
            ProjectMember,
            and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == User.id),
        )
        .where(User.id == user_id)
    ).first()
    return (None, None, None) if row is None else (row[0], row[1], row[2])


def member_role(db: Session, project_id: int, user_id: int) -> Role | None:
    return db.scalar(
        select(ProjectMember.role).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
    )


def bump_session_generation(db: Session, user: User) -> None:
    db.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_generation=User.session_generation + 1)
        .execution_options(synchronize_session=False)
    )
    db.refresh(user, ["session_generation"])


def throttles(db: Session, keys: list[str]) -> list[LoginThrottle]:
    return list(db.scalars(select(LoginThrottle).where(LoginThrottle.key.in_(keys))))


def locked_throttle(db: Session, key: str, now: datetime) -> LoginThrottle:
    """The row for `key`, created when missing, locked for this transaction (PostgreSQL)."""
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(
        insert(LoginThrottle)
        .values(key=key, failures=0, window_started_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )
    return db.scalars(
        select(LoginThrottle)
        .where(LoginThrottle.key == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def forget_throttle(db: Session, key: str) -> None:
    db.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


def prune_throttles(db: Session, window_started_before: datetime, now: datetime) -> None:
    """Rows whose window is over and who are not blocked count nothing any more."""
    db.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_started_at < window_started_before,
            or_(LoginThrottle.blocked_until.is_(None), LoginThrottle.blocked_until < now),
        )
    )
