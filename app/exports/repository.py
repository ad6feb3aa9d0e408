"""All SQL for exports: snapshots, and the streamed item selection they freeze."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select, String, case, func, select, type_coerce
from sqlalchemy.orm import Session

from app.exports.rows_kto import kto_item
from app.items.listing import has_tag
from app.models import (
    Example,
    ExportSnapshot,
    FeedbackEntry,
    ItemStatus,
    PreferencePair,
    SelectionItem,
    Source,
)

STREAM_BATCH = 2000


def add(db: Session, snapshot: ExportSnapshot) -> None:
    db.add(snapshot)
    db.flush()


def get(db: Session, snapshot_id: int) -> ExportSnapshot | None:
    return db.get(ExportSnapshot, snapshot_id)


def for_project(db: Session, project_id: int, limit: int = 50) -> list[ExportSnapshot]:
    return list(
        db.scalars(
            select(ExportSnapshot)
            .where(ExportSnapshot.project_id == project_id)
            .order_by(ExportSnapshot.id.desc())
            .limit(limit)
        )
    )


def _filtered(
    db: Session,
    model: type[Example] | type[PreferencePair],
    query: Select[Any],
    project_id: int,
    *,
    approved_only: bool,
    tags: list[str],
    source: Source | None,
    min_rating: int | None,
    selection_id: int | None = None,
) -> Select[Any]:
    query = query.where(model.project_id == project_id)
    if selection_id is not None:
        column = SelectionItem.example_id if model is Example else SelectionItem.pair_id
        query = query.where(
            select(SelectionItem.id)
            .where(SelectionItem.selection_id == selection_id, column == model.id)
            .exists()
        )
    if approved_only:
        query = query.where(model.status == ItemStatus.approved)
    if source is not None:
        query = query.where(model.source == source)
    if min_rating is not None:
        query = query.where(model.rating >= min_rating)
    for i, tag in enumerate(tags):
        query = query.where(has_tag(db, model, tag, f"tag_{i}"))
    return query.order_by(model.id)


def stream_examples(db: Session, project_id: int, **filters: Any) -> Iterator[dict[str, Any]]:
    """Exportable examples in id order, streamed (server-side cursor on PostgreSQL)."""
    columns = (Example.id, Example.version, Example.content_hash, Example.messages,
               Example.tools, type_coerce(Example.source, String), Example.rating,
               Example.tags)  # fmt: skip
    query = select(*columns).where(Example.needs_response.is_(False))  # never exported as is
    query = _filtered(db, Example, query, project_id, **filters)
    keys = ("id", "version", "content_hash", "messages", "tools", "source", "rating", "tags")
    return _stream(db, query, keys)


def stream_pairs(db: Session, project_id: int, **filters: Any) -> Iterator[dict[str, Any]]:
    columns = (PreferencePair.id, PreferencePair.version, PreferencePair.content_hash,
               PreferencePair.prompt, PreferencePair.chosen, PreferencePair.rejected,
               type_coerce(PreferencePair.source, String), PreferencePair.rating,
               PreferencePair.tags)  # fmt: skip
    query = _filtered(db, PreferencePair, select(*columns), project_id, **filters)
    keys = ("id", "version", "content_hash", "prompt", "chosen", "rejected", "source", "rating",
            "tags")  # fmt: skip
    return _stream(db, query, keys)


def count_selected(db: Session, project_id: int, pairs: bool, **filters: Any) -> int:
    """How many rows the stream will hold (for progress), by the same filters."""
    model = PreferencePair if pairs else Example
    query = select(model.id)
    if not pairs:
        query = query.where(Example.needs_response.is_(False))
    query = _filtered(db, model, query, project_id, **filters).order_by(None)
    return int(db.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _feedback_votes(project_id: int) -> Select[Any]:
    """One row per distinct response to a conversation: its first entry and its net vote
    (up +2, down -2, a 1..5 score counts score - 3), never 0."""
    entry = FeedbackEntry
    value = case(
        (entry.score.is_not(None), entry.score - 3),
        (entry.label.is_(True), 2),
        (entry.label.is_(False), -2),
        else_=0,
    )
    votes = (
        select(func.min(entry.id).label("id"), func.sum(value).label("net"))
        .where(entry.project_id == project_id)
        .group_by(entry.context_key, entry.response_key)
        .subquery()
    )
    return (
        select(entry.id, entry.prompt, entry.response, votes.c.net)
        .join(votes, votes.c.id == entry.id)
        .where(votes.c.net != 0)
    )


def stream_feedback(db: Session, project_id: int, source: str | None) -> Iterator[dict[str, Any]]:
    """Rated responses as KTO items, in log order (none when filtering on another source)."""
    if source not in (None, Source.feedback, Source.feedback.value):
        return
    query = _feedback_votes(project_id).order_by(FeedbackEntry.id)
    for row in db.connection().execute(query.execution_options(yield_per=STREAM_BATCH)):
        yield kto_item(row.id, row.prompt, row.response, int(row.net))


def count_feedback(db: Session, project_id: int) -> int:
    query = _feedback_votes(project_id).subquery()
    return int(db.scalar(select(func.count()).select_from(query)) or 0)


def needing_response(
    db: Session, project_id: int, limit: int, **filters: Any
) -> tuple[int, list[int]]:
    """Examples the filters select that the export leaves out because they have no answer
    yet: how many, and the first `limit` ids."""
    query = _filtered(
        db, Example, select(Example.id).where(Example.needs_response.is_(True)), project_id,
        **filters,
    )  # fmt: skip
    total = db.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return int(total or 0), list(db.scalars(query.limit(limit)))


def _stream(db: Session, query: Select[Any], keys: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Rows as dicts, through the session's connection: a Core result skips the ORM's
    per-row processing, which took about a third of a million-row export. The source enum
    comes back as its stored string (`type_coerce`), not as the Enum member."""
    # The option goes on the statement: Connection.execution_options() would change the
    # session's connection for good, putting later statements behind a server-side cursor.
    for row in db.connection().execute(query.execution_options(yield_per=STREAM_BATCH)):
        yield dict(zip(keys, row, strict=True))
