"""Filtered, keyset-paginated listing shared by examples and pairs (stays fast at 100k+ rows:
no OFFSET, every page is an index range scan from the cursor)."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, and_, cast, func, or_, select, text
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.items.kinds import ItemModel
from app.items.schemas import ListFilter
from app.models import Example, PreferencePair

# A search total above this is reported as COUNT_CAP + 1 ("10,000+"). Larger than the largest
# page (ListFilter.limit <= 500), so an exact first-page total never reads as capped.
COUNT_CAP = 10_000


def _encode(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode()
    except ValueError as exc:
        raise Invalid("malformed cursor") from exc


def _text_of(model: ItemModel) -> ColumnElement[str]:
    """The item's conversation as JSON text: search needs no extra column to keep in sync."""
    if model is Example:
        return cast(Example.messages, Text)
    return (
        cast(PreferencePair.prompt, Text)
        + " "
        + cast(PreferencePair.chosen, Text)
        + " "
        + cast(PreferencePair.rejected, Text)
    )


def _conditions(db: Session, model: ItemModel, project_id: int, f: ListFilter) -> list[Any]:
    conds: list[Any] = [model.project_id == project_id]
    if f.status is not None:
        conds.append(model.status == f.status)
    if f.source is not None:
        conds.append(model.source == f.source)
    if f.q:
        needle = f.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conds.append(func.lower(_text_of(model)).like(f"%{needle}%", escape="\\"))
    if f.tag:
        conds.append(has_tag(db, model, f.tag))
    return conds


def matching_ids(
    db: Session, model: ItemModel, project_id: int, f: ListFilter, limit: int
) -> list[int]:
    """Ids of the items a list filter matches (all pages), oldest first, at most `limit`."""
    conds = _conditions(db, model, project_id, f)
    return list(db.scalars(select(model.id).where(*conds).order_by(model.id).limit(limit)))


def has_tag(db: Session, model: ItemModel, tag: str, param: str = "tag") -> ColumnElement[bool]:
    """The item's JSON tag list holds `tag` (a JSONB containment test on PostgreSQL)."""
    if db.get_bind().dialect.name == "postgresql":
        return model.tags.op("@>")(func.jsonb_build_array(tag))
    table = model.__tablename__  # a model's own table name, never user input
    return text(  # type: ignore[return-value]
        f"EXISTS (SELECT 1 FROM json_each({table}.tags) WHERE value = :{param})"  # noqa: S608
    ).bindparams(**{param: tag})


def list_items(
    db: Session, model: ItemModel, project_id: int, f: ListFilter
) -> tuple[list[Any], int, str | None]:
    conds = _conditions(db, model, project_id, f)
    query: Select[Any] = select(model).where(*conds)
    if f.sort == "updated":
        query = query.order_by(model.updated_at.desc(), model.id.desc())
        if f.after:
            stamp, _, ident = _decode(f.after).partition("|")
            try:
                at, last_id = datetime.fromisoformat(stamp), int(ident)
            except ValueError as exc:
                raise Invalid("malformed cursor") from exc
            cursor: ColumnElement[bool] = or_(
                model.updated_at < at, and_(model.updated_at == at, model.id < last_id)
            )
            query = query.where(cursor)
    else:
        newest = f.sort == "newest"
        query = query.order_by(model.id.desc() if newest else model.id.asc())
        if f.after:
            try:
                last = int(_decode(f.after))
            except ValueError as exc:
                raise Invalid("malformed cursor") from exc
            query = query.where(model.id < last if newest else model.id > last)
    rows = list(db.scalars(query.limit(f.limit + 1)))
    next_cursor = None
    if len(rows) > f.limit:
        rows = rows[: f.limit]
        last_row = rows[-1]
        key = (
            f"{last_row.updated_at.isoformat()}|{last_row.id}"
            if f.sort == "updated"
            else str(last_row.id)
        )
        next_cursor = _encode(key)
    return rows, _total(db, model, conds, f, rows, next_cursor), next_cursor


def total_is_capped(f: ListFilter, total: int) -> bool:
    """Whether `total` (from `list_items`) stands for "more than COUNT_CAP" matches."""
    return bool(f.q) and total > COUNT_CAP


def _total(
    db: Session,
    model: ItemModel,
    conds: list[Any],
    f: ListFilter,
    rows: list[Any],
    cursor: str | None,
) -> int:
    if f.after is None and cursor is None:
        return len(rows)  # the first page holds every match: no second pass needed
    if f.q:
        # A text search scans every row; stop counting once the answer is "a lot".
        capped = select(model.id).where(*conds).limit(COUNT_CAP + 1).subquery()
        return int(db.scalar(select(func.count()).select_from(capped)) or 0)
    return int(db.scalar(select(func.count()).select_from(model).where(*conds)) or 0)
