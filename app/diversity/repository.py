"""SQL for diversity runs and scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from app.models import (
    DiversityRun,
    DiversityScore,
    Example,
    ItemKind,
    ItemStatus,
    PreferencePair,
)
from app.models.base import utcnow


def lock_run(db: Session, run_id: int) -> None:
    """Take the run row's lock with a write first (see contamination.repository.lock_run)."""
    db.execute(update(DiversityRun).where(DiversityRun.id == run_id).values(done=DiversityRun.done))


def get_run(db: Session, run_id: int) -> DiversityRun | None:
    return db.get(DiversityRun, run_id)


def latest_runs(db: Session, project_id: int, limit: int = 5) -> list[DiversityRun]:
    return list(
        db.scalars(
            select(DiversityRun)
            .where(DiversityRun.project_id == project_id)
            .order_by(DiversityRun.id.desc())
            .limit(limit)
        )
    )


def last_finished(db: Session, project_id: int) -> DiversityRun | None:
    return db.scalar(
        select(DiversityRun)
        .where(
            DiversityRun.project_id == project_id,
            DiversityRun.finished_at.is_not(None),
            DiversityRun.failed.is_(None),
        )
        .order_by(DiversityRun.id.desc())
        .limit(1)
    )


def item_ids(db: Session, project_id: int, kind: ItemKind) -> list[int]:
    model = Example if kind is ItemKind.example else PreferencePair
    return list(
        db.scalars(select(model.id).where(model.project_id == project_id).order_by(model.id))
    )


def load_items(db: Session, kind: ItemKind, ids: Sequence[int]) -> list[Any]:
    """(id, messages to embed, turns, rating, status) per item, in id order."""
    out: list[Any] = []
    for start in range(0, len(ids), 1000):
        part = list(ids[start : start + 1000])
        if kind is ItemKind.example:
            rows = db.execute(
                select(Example.id, Example.messages, Example.rating, Example.status)
                .where(Example.id.in_(part))
                .order_by(Example.id)
            )
            out.extend((i, m, len(m), r, s) for i, m, r, s in rows)
        else:
            rows = db.execute(
                select(PreferencePair.id, PreferencePair.prompt, PreferencePair.chosen,
                       PreferencePair.rating, PreferencePair.status)
                .where(PreferencePair.id.in_(part))
                .order_by(PreferencePair.id)
            )  # fmt: skip
            out.extend((i, [*p, *c], len(p) + len(c), r, s) for i, p, c, r, s in rows)
    return out


def advance(db: Session, run_id: int, done: int) -> bool:
    """Count an embedded chunk; True for the chunk that completed the embedding phase."""
    db.execute(
        update(DiversityRun).where(DiversityRun.id == run_id).values(done=DiversityRun.done + done)
    )
    result = db.execute(
        update(DiversityRun)
        .where(
            DiversityRun.id == run_id,
            DiversityRun.phase == "embedding",
            DiversityRun.done >= DiversityRun.total,
        )
        .values(phase="scoring")
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def replace_scores(db: Session, project_id: int, run_id: int, rows: list[dict[str, Any]]) -> None:
    """Keep only this run's scores for the project (older runs keep their metrics)."""
    old_runs = select(DiversityRun.id).where(
        DiversityRun.project_id == project_id, DiversityRun.id != run_id
    )
    db.execute(delete(DiversityScore).where(DiversityScore.run_id.in_(old_runs)))
    db.execute(delete(DiversityScore).where(DiversityScore.run_id == run_id))
    for start in range(0, len(rows), 2000):
        db.execute(insert(DiversityScore), rows[start : start + 2000])


def update_scores(db: Session, run_id: int, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        db.execute(
            update(DiversityScore)
            .where(DiversityScore.run_id == run_id, DiversityScore.position == row["position"])
            .values({k: v for k, v in row.items() if k != "position"})
        )


def scores(db: Session, run_id: int) -> list[DiversityScore]:
    return list(
        db.scalars(
            select(DiversityScore)
            .where(DiversityScore.run_id == run_id)
            .order_by(DiversityScore.position)
        )
    )


def score_of(db: Session, run_id: int, kind: ItemKind, item_id: int) -> DiversityScore | None:
    column = DiversityScore.example_id if kind is ItemKind.example else DiversityScore.pair_id
    return db.scalar(
        select(DiversityScore).where(DiversityScore.run_id == run_id, column == item_id)
    )


def set_status(
    db: Session, kind: ItemKind, item_id: int, status: ItemStatus, user_id: int
) -> tuple[ItemStatus, int] | None:
    """Set an item's status; (previous status, new version), or None when unchanged/gone."""
    item: Example | PreferencePair | None = (
        db.get(Example, item_id) if kind is ItemKind.example else db.get(PreferencePair, item_id)
    )
    if item is None or item.status is status:
        return None
    before = item.status
    item.status = status
    item.updated_by_id = user_id
    item.updated_at = utcnow()
    db.flush()
    return before, item.version
