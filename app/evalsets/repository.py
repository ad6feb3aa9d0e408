"""All SQL for eval sets and their items."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.models import EvalItem, EvalSet

INSERT_BATCH = 2000
ITEM_COLUMNS = ("position", "original", "text", "content_hash")


def get(db: Session, eval_set_id: int) -> EvalSet | None:
    return db.get(EvalSet, eval_set_id)


def for_project(db: Session, project_id: int) -> list[EvalSet]:
    return list(
        db.scalars(
            select(EvalSet)
            .where(EvalSet.project_id == project_id)
            .order_by(EvalSet.name, EvalSet.version.desc())
        )
    )


def max_version(db: Session, project_id: int, name: str) -> int | None:
    return db.scalar(
        select(func.max(EvalSet.version)).where(
            EvalSet.project_id == project_id, EvalSet.name == name
        )
    )


def exists(db: Session, project_id: int, name: str, version: int) -> bool:
    found = db.scalar(
        select(EvalSet.id).where(
            EvalSet.project_id == project_id, EvalSet.name == name, EvalSet.version == version
        )
    )
    return found is not None


def add(db: Session, eval_set: EvalSet) -> bool:
    """Insert the set; False (nothing added) when its (project, name, version) is taken."""
    try:
        with db.begin_nested():
            db.add(eval_set)
    except IntegrityError:
        return False
    return True


def rename(db: Session, eval_set: EvalSet, name: str) -> bool:
    """Rename in place; False (name unchanged) when the new (name, version) is taken."""
    try:
        with db.begin_nested():
            eval_set.name = name
    except IntegrityError:
        return False
    return True


def lock(db: Session, eval_set: EvalSet) -> None:
    """Reload the set's row under a row lock (PostgreSQL), so a concurrent freeze is seen
    before this transaction changes anything."""
    db.refresh(eval_set, with_for_update=True)


def delete_set(db: Session, eval_set: EvalSet) -> None:
    delete_items(db, eval_set.id)
    db.delete(eval_set)
    db.flush()


def delete_items(db: Session, eval_set_id: int) -> None:
    db.execute(delete(EvalItem).where(EvalItem.eval_set_id == eval_set_id))


def add_items(db: Session, eval_set_id: int, rows: Iterable[Sequence[Any]]) -> None:
    """Insert items given as (position, original, text, content_hash) tuples, in batches."""
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append({"eval_set_id": eval_set_id, **dict(zip(ITEM_COLUMNS, row, strict=True))})
        if len(batch) >= INSERT_BATCH:
            db.execute(insert(EvalItem), batch)
            batch = []
    if batch:
        db.execute(insert(EvalItem), batch)


def copy_items(db: Session, source_id: int, target_id: int) -> None:
    """Copy every item of one set into another, unchanged, in one statement."""
    query = select(
        literal(target_id), EvalItem.position, EvalItem.original, EvalItem.text,
        EvalItem.content_hash,
    ).where(EvalItem.eval_set_id == source_id)  # fmt: skip
    db.execute(insert(EvalItem).from_select(["eval_set_id", *ITEM_COLUMNS], query))


def item_count(db: Session, eval_set_id: int) -> int:
    query = select(func.count()).select_from(EvalItem).where(EvalItem.eval_set_id == eval_set_id)
    return db.scalar(query) or 0


def item_counts(db: Session, eval_set_ids: Sequence[int]) -> dict[int, int]:
    if not eval_set_ids:
        return {}
    rows = db.execute(
        select(EvalItem.eval_set_id, func.count())
        .where(EvalItem.eval_set_id.in_(eval_set_ids))
        .group_by(EvalItem.eval_set_id)
    )
    return {row[0]: row[1] for row in rows}


def items_page(db: Session, eval_set_id: int, start: int, limit: int) -> list[EvalItem]:
    return list(
        db.scalars(
            select(EvalItem)
            .where(EvalItem.eval_set_id == eval_set_id, EvalItem.position >= start)
            .order_by(EvalItem.position)
            .limit(limit)
        )
    )


def item_rows(db: Session, eval_set_id: int) -> list[tuple[int, dict[str, Any], str]]:
    """(position, original, content_hash) of every item, in position order."""
    rows = db.execute(
        select(EvalItem.position, EvalItem.original, EvalItem.content_hash)
        .where(EvalItem.eval_set_id == eval_set_id)
        .order_by(EvalItem.position)
    )
    return [(position, original, content_hash) for position, original, content_hash in rows]


def item_hashes(db: Session, eval_set_id: int) -> list[str]:
    """Every item's content hash, in position order."""
    return list(
        db.scalars(
            select(EvalItem.content_hash)
            .where(EvalItem.eval_set_id == eval_set_id)
            .order_by(EvalItem.position)
        )
    )
