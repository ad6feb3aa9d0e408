"""Rows for the dashboard and agreement tests, made directly with the ORM."""

from __future__ import annotations

import hashlib
import itertools

from sqlalchemy.orm import Session

from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Label,
    LabelState,
    Preference,
    PreferencePair,
    Project,
    Role,
    Source,
    User,
)
from tests.conftest import add_member, make_user

_counter = itertools.count()
XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def example(
    db: Session,
    project: Project,
    *,
    status: ItemStatus = ItemStatus.draft,
    source: Source = Source.human,
    rating: int | None = None,
) -> Example:
    n = next(_counter)
    item = Example(
        project_id=project.id,
        source=source,
        status=status,
        rating=rating,
        messages=[
            {"role": "user", "content": f"question {n}"},
            {"role": "assistant", "content": f"answer {n}"},
        ],
        content_hash=_hash(f"example {n}"),
    )
    db.add(item)
    db.flush()
    return item


def pair(
    db: Session,
    project: Project,
    *,
    status: ItemStatus = ItemStatus.draft,
    source: Source = Source.human,
    rating: int | None = None,
) -> PreferencePair:
    n = next(_counter)
    item = PreferencePair(
        project_id=project.id,
        source=source,
        status=status,
        rating=rating,
        prompt=[{"role": "user", "content": f"prompt {n}"}],
        chosen=[{"role": "assistant", "content": f"good {n}"}],
        rejected=[{"role": "assistant", "content": f"bad {n}"}],
        content_hash=_hash(f"pair {n}"),
    )
    db.add(item)
    db.flush()
    return item


def label(
    db: Session,
    item: Example | PreferencePair,
    user: User,
    *,
    state: LabelState = LabelState.submitted,
    rating: int | None = None,
    preference: Preference | str | None = None,
    seconds: float | None = None,
) -> Label:
    kind = ItemKind.example if isinstance(item, Example) else ItemKind.pair
    row = Label(
        project_id=item.project_id,
        item_kind=kind.value,
        item_id=item.id,
        user_id=user.id,
        state=state,
        rating=rating,
        preference=Preference(preference) if preference else None,
        seconds=seconds,
    )
    db.add(row)
    db.flush()
    return row


def raw_user(db: Session, email: str, role: Role = Role.annotator) -> User:
    """A user made without the service's checks (to put odd text in an email)."""
    user = User(email=email, password_hash="x", role=role, active=True)
    db.add(user)
    db.flush()
    return user


def member(db: Session, project: Project, email: str) -> User:
    user = make_user(db, email, Role.annotator)
    add_member(db, project, user, Role.annotator)
    return user
