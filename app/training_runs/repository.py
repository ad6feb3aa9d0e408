"""All SQL for training runs and their metric rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import EvaluationRun, TrainingMetric, TrainingRun
from app.models.training import ACTIVE_STATES


def add(db: Session, run: TrainingRun) -> None:
    db.add(run)
    db.flush()


def get(db: Session, run_id: int) -> TrainingRun | None:
    return db.get(TrainingRun, run_id)


def get_for_update(db: Session, run_id: int) -> TrainingRun | None:
    """The run, locked for this transaction on PostgreSQL (SQLite's write lock serialises)."""
    return db.scalars(select(TrainingRun).where(TrainingRun.id == run_id).with_for_update()).first()


def for_project(db: Session, project_id: int, limit: int = 100) -> list[TrainingRun]:
    return list(
        db.scalars(
            select(TrainingRun)
            .where(TrainingRun.project_id == project_id)
            .order_by(TrainingRun.id.desc())
            .limit(limit)
        )
    )


def active_ids(db: Session) -> list[int]:
    """Runs a poller follows: submitted (a handle stored) and not finished."""
    return list(
        db.scalars(
            select(TrainingRun.id)
            .where(TrainingRun.state.in_(ACTIVE_STATES), TrainingRun.handle.is_not(None))
            .order_by(TrainingRun.id)
        )
    )


def max_seq(db: Session, run_id: int) -> int:
    """The highest metric line stored for the run, -1 when none."""
    value = db.scalar(select(func.max(TrainingMetric.seq)).where(TrainingMetric.run_id == run_id))
    return -1 if value is None else int(value)


def add_metrics(db: Session, run_id: int, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Store metric lines given as (seq, row)."""
    for seq, row in rows:
        step = row.get("step")
        db.add(
            TrainingMetric(
                run_id=run_id,
                seq=seq,
                step=int(step) if isinstance(step, int | float) else None,
                event=str(row.get("event") or "train")[:16],
                row=row,
            )
        )
    db.flush()


def metrics(
    db: Session, run_id: int, after_seq: int = -1, limit: int = 20_000
) -> list[TrainingMetric]:
    return list(
        db.scalars(
            select(TrainingMetric)
            .where(TrainingMetric.run_id == run_id, TrainingMetric.seq > after_seq)
            .order_by(TrainingMetric.seq)
            .limit(limit)
        )
    )


def evaluations(db: Session, run_id: int, limit: int = 20) -> list[EvaluationRun]:
    """The evaluation runs of this training run's adapter, newest first."""
    return list(
        db.scalars(
            select(EvaluationRun)
            .where(EvaluationRun.training_run_id == run_id)
            .order_by(EvaluationRun.id.desc())
            .limit(limit)
        )
    )
