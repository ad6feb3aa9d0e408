"""All SQL of the dashboard and the agreement page.

Every figure is one GROUP BY over an indexed column set (``ix_examples_project_status_id``,
``ix_examples_project_source_id``, ``ix_labels_project_user_state``, ``ix_labels_project_state``),
so the database does the counting and Python only sees a handful of rows, at 100 rows or
100,000.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from app.items.kinds import model_for
from app.models import (
    ItemKind,
    ItemStatus,
    Label,
    LabelState,
    Preference,
    User,
)

# Labels that count as an annotator's judgement: submitted, and submitted then sent back.
JUDGED = (LabelState.submitted, LabelState.returned)


def status_counts(db: Session, project_id: int, kind: ItemKind) -> dict[str, int]:
    model = model_for(kind)
    rows = db.execute(
        select(model.status, func.count())
        .where(model.project_id == project_id)
        .group_by(model.status)
    )
    return {status.value: int(n) for status, n in rows}


def source_counts(db: Session, project_id: int, kind: ItemKind) -> dict[str, int]:
    model = model_for(kind)
    rows = db.execute(
        select(model.source, func.count())
        .where(model.project_id == project_id)
        .group_by(model.source)
    )
    return {source.value: int(n) for source, n in rows}


def item_rating_counts(db: Session, project_id: int, kind: ItemKind) -> dict[int, int]:
    """The ratings stored on the items (the median of their labels, or imported)."""
    model = model_for(kind)
    rows = db.execute(
        select(model.rating, func.count())
        .where(model.project_id == project_id, model.rating.is_not(None))
        .group_by(model.rating)
    )
    return {int(rating): int(n) for rating, n in rows if rating is not None}


def label_rating_counts(db: Session, project_id: int) -> dict[tuple[str, int], int]:
    """Annotators' ratings, one per judged label: {(item_kind, rating): count}."""
    rows = db.execute(
        select(Label.item_kind, Label.rating, func.count())
        .where(
            Label.project_id == project_id,
            Label.state.in_(JUDGED),
            Label.rating.is_not(None),
        )
        .group_by(Label.item_kind, Label.rating)
    )
    return {(kind, int(rating)): int(n) for kind, rating, n in rows if rating is not None}


@dataclass(frozen=True, slots=True)
class AnnotatorCount:
    user_id: int
    email: str
    state: LabelState
    count: int


def label_counts(db: Session, project_id: int) -> list[AnnotatorCount]:
    """Labels per annotator and state."""
    rows = db.execute(
        select(Label.user_id, User.email, Label.state, func.count())
        .join(User, User.id == Label.user_id)
        .where(Label.project_id == project_id)
        .group_by(Label.user_id, User.email, Label.state)
        .order_by(User.email)
    )
    return [AnnotatorCount(uid, email, state, int(n)) for uid, email, state, n in rows]


def median_seconds(db: Session, project_id: int) -> dict[int, float]:
    """Each annotator's median seconds per judged label.

    PostgreSQL has ``percentile_cont``; elsewhere (SQLite) one query ranks each annotator's
    times and averages the middle one (odd count) or two (even count).
    """
    timed = and_(
        Label.project_id == project_id, Label.state.in_(JUDGED), Label.seconds.is_not(None)
    )
    if db.get_bind().dialect.name == "postgresql":
        median = func.percentile_cont(0.5).within_group(Label.seconds)
        rows = db.execute(select(Label.user_id, median).where(timed).group_by(Label.user_id))
        return {int(uid): float(seconds) for uid, seconds in rows}
    ranked = (
        select(
            Label.user_id.label("user_id"),
            Label.seconds.label("seconds"),
            func.row_number()
            .over(partition_by=Label.user_id, order_by=Label.seconds)
            .label("position"),
            func.count().over(partition_by=Label.user_id).label("n"),
        )
        .where(timed)
        .subquery()
    )
    c = ranked.c
    middle = (c.position == (c.n + 1) // 2) | (c.position == (c.n + 2) // 2)
    rows = db.execute(select(c.user_id, func.avg(c.seconds)).where(middle).group_by(c.user_id))
    return {int(uid): float(seconds) for uid, seconds in rows}


@dataclass(frozen=True, slots=True)
class JudgedLabel:
    item_kind: str
    item_id: int
    user_id: int
    rating: int | None
    preference: Preference | None


def overlapping_labels(db: Session, project_id: int) -> list[JudgedLabel]:
    """Judged labels of the items judged by two or more annotators: the only ones agreement
    can be measured on."""
    judged = and_(Label.project_id == project_id, Label.state.in_(JUDGED))
    shared = (
        select(Label.item_kind, Label.item_id)
        .where(judged)
        .group_by(Label.item_kind, Label.item_id)
        .having(func.count() >= 2)
        .subquery()
    )
    rows = db.execute(
        select(Label.item_kind, Label.item_id, Label.user_id, Label.rating, Label.preference)
        .join(
            shared,
            and_(shared.c.item_kind == Label.item_kind, shared.c.item_id == Label.item_id),
        )
        .where(judged)
        .order_by(Label.item_kind, Label.item_id, Label.user_id)
    )
    return [JudgedLabel(kind, item, user, rating, pref) for kind, item, user, rating, pref in rows]


def emails(db: Session, user_ids: Collection[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = db.execute(select(User.id, User.email).where(User.id.in_(list(user_ids))))
    return {int(uid): email for uid, email in rows}


def statuses(
    db: Session, project_id: int, kind: ItemKind, item_ids: Collection[int]
) -> dict[int, ItemStatus]:
    if not item_ids:
        return {}
    model = model_for(kind)
    rows = db.execute(
        select(model.id, model.status).where(
            model.project_id == project_id, model.id.in_(list(item_ids))
        )
    )
    return {int(item_id): status for item_id, status in rows}
