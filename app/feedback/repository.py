"""All SQL of the feedback domain: rated responses, pair links, remembered mappings, counts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from app.models import FeedbackEntry, FeedbackMapping, FeedbackPairLink, PreferencePair, Source
from app.models.base import dialect_insert, utcnow

STREAM_BATCH = 2000


def insert_entries(db: Session, rows: list[dict[str, Any]]) -> int:
    """Insert rated responses; rows the project already holds (same entry hash) are skipped.
    Returns how many were new."""
    if not rows:
        return 0
    statement = dialect_insert(db, FeedbackEntry.__table__).on_conflict_do_nothing(
        index_elements=["project_id", "entry_hash"]
    )
    result = db.execute(statement.execution_options(preserve_rowcount=True), rows)
    inserted = int(result.rowcount)  # type: ignore[attr-defined]
    result.close()
    return inserted


def get_mapping(db: Session, project_id: int) -> dict[str, str]:
    row = db.get(FeedbackMapping, project_id)
    return dict(row.fields) if row is not None else {}


def save_mapping(db: Session, project_id: int, fields: dict[str, str]) -> None:
    row = db.get(FeedbackMapping, project_id)
    if row is None:
        db.add(FeedbackMapping(project_id=project_id, fields=fields, updated_at=utcnow()))
    else:
        row.fields = fields
        row.updated_at = utcnow()
    db.flush()


def stream_votes(db: Session, project_id: int, with_context: bool) -> Iterator[dict[str, Any]]:
    """Every rated response of the project, grouped by prompt key (then in log order)."""
    key = FeedbackEntry.context_key if with_context else FeedbackEntry.prompt_key
    query = (
        select(
            key.label("key"),
            FeedbackEntry.id,
            FeedbackEntry.response_key,
            FeedbackEntry.response,
            FeedbackEntry.prompt,
            FeedbackEntry.label,
            FeedbackEntry.score,
        )
        .where(FeedbackEntry.project_id == project_id)
        .order_by(key, FeedbackEntry.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for row in db.connection().execute(query):
        yield row._asdict()


def insert_pairs(
    db: Session,
    *,
    project_id: int,
    user_id: int | None,
    pairs: list[dict[str, Any]],
    status: str,
    now: datetime,
) -> dict[str, tuple[int, bool]]:
    """Add pairs (`prompt`, `chosen`, `rejected`, `content_hash` each) with source feedback.
    Returns, by content hash, (pair id, True) for a new pair or (the existing pair's id,
    False) when the project already held that content."""
    table = PreferencePair.__table__
    out: dict[str, tuple[int, bool]] = {}
    for start in range(0, len(pairs), STREAM_BATCH):
        batch = pairs[start : start + STREAM_BATCH]
        hashes = [p["content_hash"] for p in batch]
        found = db.execute(
            select(PreferencePair.id, PreferencePair.content_hash).where(
                PreferencePair.project_id == project_id, PreferencePair.content_hash.in_(hashes)
            )
        )
        out.update({h: (int(i), False) for i, h in found})
        new = {p["content_hash"]: p for p in batch if p["content_hash"] not in out}
        if not new:
            continue
        common = {"project_id": project_id, "source": Source.feedback.value, "status": status,
                  "tags": [], "version": 1, "created_by_id": user_id, "updated_by_id": user_id,
                  "created_at": now, "updated_at": now}  # fmt: skip
        rows = [{**common, **p} for p in new.values()]
        inserted = db.execute(
            insert(table).returning(table.c.id, table.c.content_hash),  # type: ignore[arg-type]
            rows,
        )
        out.update({h: (int(i), True) for i, h in inserted})
    return out


def link(db: Session, rows: list[dict[str, Any]]) -> None:
    """Record which entries (`entry_id`) each pair (`pair_id`) was made from (`chosen` side)."""
    if not rows:
        return
    statement = dialect_insert(db, FeedbackPairLink.__table__).on_conflict_do_nothing(
        index_elements=["pair_id", "entry_id"]
    )
    db.execute(statement, rows)


def pair_entries(db: Session, project_id: int, pair_id: int) -> list[dict[str, Any]]:
    query = (
        select(
            FeedbackEntry.id.label("entry_id"),
            FeedbackEntry.log_id,
            FeedbackEntry.file,
            FeedbackEntry.line,
            FeedbackEntry.rating,
            FeedbackPairLink.chosen,
        )
        .select_from(FeedbackPairLink)
        .join(FeedbackEntry, FeedbackEntry.id == FeedbackPairLink.entry_id)
        .where(FeedbackPairLink.project_id == project_id, FeedbackPairLink.pair_id == pair_id)
        .order_by(FeedbackPairLink.chosen.desc(), FeedbackEntry.id)
    )
    return [row._asdict() for row in db.execute(query)]


def label_counts(db: Session, project_id: int) -> dict[str, int]:
    row = db.execute(
        select(
            func.count(),
            func.sum(case((FeedbackEntry.label.is_(True), 1), else_=0)),
            func.sum(case((FeedbackEntry.label.is_(False), 1), else_=0)),
            func.count(func.distinct(FeedbackEntry.prompt_key)),
        ).where(FeedbackEntry.project_id == project_id)
    ).one()
    return {"entries": row[0] or 0, "up": int(row[1] or 0), "down": int(row[2] or 0),
            "prompts": int(row[3] or 0)}  # fmt: skip


def pairable_prompts(db: Session, project_id: int) -> int:
    """Prompts (last user turn) with at least one up and one down response."""
    per_prompt = (
        select(FeedbackEntry.prompt_key)
        .where(FeedbackEntry.project_id == project_id)
        .group_by(FeedbackEntry.prompt_key)
        .having(
            func.sum(case((FeedbackEntry.label.is_(True), 1), else_=0)) > 0,
            func.sum(case((FeedbackEntry.label.is_(False), 1), else_=0)) > 0,
        )
        .subquery()
    )
    return int(db.scalar(select(func.count()).select_from(per_prompt)) or 0)


def pairs_by_status(db: Session, project_id: int) -> dict[str, int]:
    rows = db.execute(
        select(PreferencePair.status, func.count())
        .where(PreferencePair.project_id == project_id, PreferencePair.source == Source.feedback)
        .group_by(PreferencePair.status)
    ).all()
    return {status.value: int(n) for status, n in rows}


def paired_entries(db: Session, project_id: int) -> int:
    return int(
        db.scalar(
            select(func.count(func.distinct(FeedbackPairLink.entry_id))).where(
                FeedbackPairLink.project_id == project_id
            )
        )
        or 0
    )
