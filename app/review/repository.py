"""All SQL for the review workflow: approvals, who worked on an item, labels and slots, and the
review queue (submitted examples and pairs, keyset-paginated per table, merged in Python)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from app.items.kinds import Item, model_for
from app.items.listing import has_tag
from app.items.repository import LABELED_STATES
from app.models import (
    ContaminationChecked,
    ContaminationFlag,
    EvalSet,
    FlagStatus,
    ItemKind,
    ItemStatus,
    Label,
    LabelState,
    Review,
    ReviewDecision,
    Revision,
)

# Revisions that make their author an editor of the item (who then may not approve it).
EDIT_ACTIONS = ("edit", "swap", "revert", "create")
# Labels that make their author an annotator of the item.


def approvers(db: Session, kind: ItemKind, item_id: int, content_hash: str) -> set[int]:
    """Distinct reviewers who approved the item at `content_hash` since anyone last rejected it
    or sent it back (a later decision supersedes earlier approvals)."""
    last_block = db.scalar(
        select(func.max(Review.id)).where(
            Review.item_kind == kind.value,
            Review.item_id == item_id,
            Review.decision != ReviewDecision.approve,
        )
    )
    query = select(Review.user_id).where(
        Review.item_kind == kind.value,
        Review.item_id == item_id,
        Review.decision == ReviewDecision.approve,
        Review.content_hash == content_hash,
        Review.user_id.is_not(None),
    )
    if last_block is not None:
        query = query.where(Review.id > last_block)
    return {u for u in db.scalars(query.distinct()) if u is not None}


def contamination_state(
    db: Session, project_id: int, kind: ItemKind, item_id: int, content_hash: str
) -> tuple[int, int, int]:
    """(frozen eval sets of the project, those that checked the item at `content_hash`, the
    item's open contamination flags)."""
    column = (
        ContaminationChecked.example_id
        if kind is ItemKind.example
        else ContaminationChecked.pair_id
    )
    flag_column = (
        ContaminationFlag.example_id if kind is ItemKind.example else ContaminationFlag.pair_id
    )
    frozen = select(EvalSet.id).where(
        EvalSet.project_id == project_id, EvalSet.frozen_at.is_not(None)
    )
    sets = db.scalar(select(func.count()).select_from(frozen.subquery())) or 0
    checked = db.scalar(
        select(func.count(ContaminationChecked.id)).where(
            column == item_id,
            ContaminationChecked.content_hash == content_hash,
            ContaminationChecked.eval_set_id.in_(frozen),
        )
    )
    flags = db.scalar(
        select(func.count(ContaminationFlag.id)).where(
            flag_column == item_id, ContaminationFlag.status == FlagStatus.open
        )
    )
    return sets, checked or 0, flags or 0


def reviews_of(db: Session, kind: ItemKind, item_id: int) -> list[Review]:
    return list(
        db.scalars(
            select(Review)
            .where(Review.item_kind == kind.value, Review.item_id == item_id)
            .order_by(Review.id.desc())
        )
    )


def labels_of(db: Session, kind: ItemKind, item_id: int) -> list[Label]:
    return list(
        db.scalars(
            select(Label)
            .where(Label.item_kind == kind.value, Label.item_id == item_id)
            .order_by(Label.submitted_at.is_(None), Label.submitted_at, Label.id)
        )
    )


def edited_by(db: Session, kind: ItemKind, item_ids: Sequence[int], user_id: int) -> set[int]:
    """Which of `item_ids` the user edited, swapped, reverted or created."""
    found: set[int] = set()
    for part in _chunks(item_ids):
        found.update(
            db.scalars(
                select(Revision.item_id)
                .where(
                    Revision.item_kind == kind.value,
                    Revision.item_id.in_(part),
                    Revision.user_id == user_id,
                    Revision.action.in_(EDIT_ACTIONS),
                )
                .distinct()
            )
        )
    return found


def labeled_by(db: Session, kind: ItemKind, item_ids: Sequence[int], user_id: int) -> set[int]:
    """Which of `item_ids` the user labeled (a submitted or returned label)."""
    found: set[int] = set()
    for part in _chunks(item_ids):
        found.update(
            db.scalars(
                select(Label.item_id).where(
                    Label.item_kind == kind.value,
                    Label.item_id.in_(part),
                    Label.user_id == user_id,
                    Label.state.in_(LABELED_STATES),
                )
            )
        )
    return found


def approved_by(
    db: Session, kind: ItemKind, items: Sequence[tuple[int, str]], user_id: int
) -> set[int]:
    """Which of the (id, content_hash) items the user already approved at that hash."""
    hashes = dict(items)
    found: set[int] = set()
    for part in _chunks(list(hashes)):
        rows = db.execute(
            select(Review.item_id, Review.content_hash).where(
                Review.item_kind == kind.value,
                Review.item_id.in_(part),
                Review.user_id == user_id,
                Review.decision == ReviewDecision.approve,
            )
        )
        found.update(i for i, h in rows if hashes.get(i) == h)
    return found


def return_labels(db: Session, kind: ItemKind, item_id: int) -> int:
    """Hand every submitted label back to its annotator; how many there were."""
    result = db.execute(
        update(Label)
        .where(
            Label.item_kind == kind.value,
            Label.item_id == item_id,
            Label.state == LabelState.submitted,
        )
        .values(state=LabelState.returned)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def label_counts(db: Session, kind: ItemKind, item_ids: Sequence[int]) -> dict[int, int]:
    """Submitted or returned labels per item."""
    out: dict[int, int] = {}
    for part in _chunks(item_ids):
        rows = db.execute(
            select(Label.item_id, func.count())
            .where(
                Label.item_kind == kind.value,
                Label.item_id.in_(part),
                Label.state.in_(LABELED_STATES),
            )
            .group_by(Label.item_id)
        )
        out.update({int(i): int(n) for i, n in rows})
    return out


def queue_conditions(
    db: Session,
    kind: ItemKind,
    project_id: int,
    *,
    source: Any = None,
    tag: str | None = None,
    min_rating: int | None = None,
    annotator_id: int | None = None,
    not_reviewed_by: int | None = None,
) -> list[Any]:
    """Submitted items of one kind in the project, narrowed by the queue's filters."""
    model = model_for(kind)
    conds: list[Any] = [model.project_id == project_id, model.status == ItemStatus.submitted]
    if source is not None:
        conds.append(model.source == source)
    if tag:
        conds.append(has_tag(db, model, tag, param=f"tag_{kind.value}"))
    if min_rating is not None:
        conds.append(model.rating >= min_rating)
    if annotator_id is not None:
        conds.append(
            exists().where(
                Label.item_kind == kind.value,
                Label.item_id == model.id,
                Label.user_id == annotator_id,
                Label.state.in_(LABELED_STATES),
            )
        )
    if not_reviewed_by is not None:
        conds.append(
            ~exists().where(
                Review.item_kind == kind.value,
                Review.item_id == model.id,
                Review.user_id == not_reviewed_by,
                Review.content_hash == model.content_hash,
            )
        )
    return conds


def queue_page(
    db: Session,
    kind: ItemKind,
    conds: list[Any],
    after: tuple[datetime, str, int] | None,
    limit: int,
) -> list[Item]:
    """Up to `limit` items of one kind after the cursor, oldest update first. The queue's order
    is (updated_at, kind, id) across both kinds."""
    model = model_for(kind)
    query = select(model).where(*conds)
    if after is not None:
        at, after_kind, after_id = after
        cursor: ColumnElement[bool]
        if kind.value > after_kind:
            cursor = model.updated_at >= at
        elif kind.value == after_kind:
            cursor = or_(model.updated_at > at, and_(model.updated_at == at, model.id > after_id))
        else:
            cursor = model.updated_at > at
        query = query.where(cursor)
    query = query.order_by(model.updated_at, model.id).limit(limit)
    return list(db.scalars(query))


def queue_count(db: Session, kind: ItemKind, conds: list[Any]) -> int:
    model = model_for(kind)
    return int(db.scalar(select(func.count()).select_from(model).where(*conds)) or 0)


def queue_all(db: Session, kind: ItemKind, conds: list[Any]) -> list[Item]:
    model = model_for(kind)
    return list(db.scalars(select(model).where(*conds).order_by(model.updated_at, model.id)))


def _chunks(ids: Iterable[int], size: int = 500) -> Iterable[list[int]]:
    batch: list[int] = []
    for item_id in ids:
        batch.append(item_id)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
