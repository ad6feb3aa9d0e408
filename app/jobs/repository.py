"""All SQL for jobs. State changes are single UPDATEs guarded by the expected state, so two
workers (or a worker and the reaper) can never both win."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import Job, JobState


def get(db: Session, job_id: int) -> Job | None:
    return db.get(Job, job_id)


def claim(db: Session, job_id: int, now: datetime) -> bool:
    result = db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.queued)
        .values(
            state=JobState.running,
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            updated_at=now,
            error=None,
            message="started",
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def heartbeat(db: Session, job_id: int, now: datetime, **values: Any) -> JobState | None:
    db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.running)
        .values(heartbeat_at=now, **values)
    )
    return db.scalar(select(Job.state).where(Job.id == job_id))


def finish(db: Session, job_id: int, now: datetime, state: JobState, **values: Any) -> bool:
    result = db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == JobState.running)
        .values(state=state, finished_at=now, updated_at=now, heartbeat_at=now, **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def stale_running(db: Session, older_than: datetime) -> list[Job]:
    return list(
        db.scalars(select(Job).where(Job.state == JobState.running, Job.heartbeat_at < older_than))
    )


def unclaimed_queued(db: Session, older_than: datetime) -> list[Job]:
    return list(
        db.scalars(select(Job).where(Job.state == JobState.queued, Job.updated_at < older_than))
    )


def requeue(db: Session, job: Job, now: datetime, message: str) -> bool:
    result = db.execute(
        update(Job)
        .where(Job.id == job.id, Job.state == job.state, Job.updated_at == job.updated_at)
        .values(state=JobState.queued, updated_at=now, message=message)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def cancel(db: Session, job_id: int, now: datetime) -> bool:
    result = db.execute(
        update(Job)
        .where(Job.id == job_id, Job.state.in_([JobState.queued, JobState.running]))
        .values(state=JobState.cancelled, finished_at=now, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def recent(db: Session, project_id: int | None, limit: int = 20) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(Job.project_id == project_id)
    return list(db.scalars(query))


def of_kinds(db: Session, project_id: int, kinds: Sequence[str], since: datetime) -> list[Job]:
    return list(
        db.scalars(
            select(Job).where(
                Job.project_id == project_id, Job.kind.in_(kinds), Job.created_at >= since
            )
        )
    )
