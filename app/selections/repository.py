"""SQL for selections."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from app.models import Example, ItemKind, PreferencePair, Selection, SelectionItem


def get(db: Session, project_id: int, selection_id: int) -> Selection | None:
    selection = db.get(Selection, selection_id)
    return selection if selection is not None and selection.project_id == project_id else None


def by_name(db: Session, project_id: int, name: str) -> Selection | None:
    return db.scalar(
        select(Selection).where(Selection.project_id == project_id, Selection.name == name)
    )


def for_project(db: Session, project_id: int) -> list[Selection]:
    return list(
        db.scalars(
            select(Selection).where(Selection.project_id == project_id).order_by(Selection.id)
        )
    )


def existing_ids(db: Session, project_id: int, kind: ItemKind, ids: Sequence[int]) -> set[int]:
    model = Example if kind is ItemKind.example else PreferencePair
    found: set[int] = set()
    unique = sorted(set(ids))
    for start in range(0, len(unique), 1000):
        part = unique[start : start + 1000]
        found.update(
            db.scalars(select(model.id).where(model.project_id == project_id, model.id.in_(part)))
        )
    return found


def add_items(db: Session, selection_id: int, kind: ItemKind, ids: Sequence[int]) -> None:
    key = "example_id" if kind is ItemKind.example else "pair_id"
    rows = [{"selection_id": selection_id, key: i} for i in ids]
    for start in range(0, len(rows), 1000):
        db.execute(insert(SelectionItem), rows[start : start + 1000])


def item_ids(db: Session, selection_id: int, kind: ItemKind) -> list[int]:
    column = SelectionItem.example_id if kind is ItemKind.example else SelectionItem.pair_id
    return list(
        db.scalars(
            select(column)
            .where(SelectionItem.selection_id == selection_id, column.is_not(None))
            .order_by(column)
        )
    )


def count(db: Session, selection_id: int) -> int:
    return int(
        db.scalar(select(func.count()).where(SelectionItem.selection_id == selection_id)) or 0
    )


def remove(db: Session, selection: Selection) -> None:
    db.execute(delete(SelectionItem).where(SelectionItem.selection_id == selection.id))
    db.delete(selection)
    db.flush()
