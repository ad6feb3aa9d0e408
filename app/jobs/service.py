"""Creating, reading, cancelling and reaping jobs. Never commits."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from app.db import after_commit
from app.errors import Conflict, Forbidden, NotFound
from app.jobs import repository
from app.jobs.dispatch import get_dispatcher
from app.jobs.registry import on_failure_of, queue_for
from app.models import Job, JobState, Role, User
from app.models.base import utcnow

log = logging.getLogger(__name__)


def create(
    db: Session,
    *,
    kind: str,
    params: dict[str, Any],
    project_id: int | None,
    user_id: int | None,
) -> Job:
    """Add a queued job; the worker is woken only once the caller's transaction commits."""
    now = utcnow()
    job = Job(
        kind=kind,
        params=params,
        project_id=project_id,
        created_by_id=user_id,
        state=JobState.queued,
        created_at=now,
        updated_at=now,
        message="waiting for a worker",
    )
    db.add(job)
    db.flush()
    job_id = job.id
    after_commit(db, lambda: _send(job_id, kind))
    return job


def _send(job_id: int, kind: str) -> None:
    try:
        get_dispatcher().send(job_id, queue_for(kind))
    except Exception:
        # The row is committed; the reaper re-sends queued jobs nobody picked up.
        log.exception("could not send job %s to the broker; the reaper will retry", job_id)


def get_for_user(db: Session, job_id: int, user: User, project_ids: set[int] | None) -> Job:
    job = repository.get(db, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    if user.role is Role.admin or job.created_by_id == user.id:
        return job
    if job.project_id is not None and project_ids is not None and job.project_id in project_ids:
        return job
    raise NotFound(f"job {job_id} not found")


def recent_for_project(db: Session, project_id: int, limit: int = 20) -> list[Job]:
    return repository.recent(db, project_id, limit)


def time_left(job: Job, now: datetime | None = None) -> str | None:
    """A running job's remaining time, extrapolated from its progress so far ("about 2 min");
    None until there is enough to go on (a few seconds and a few percent)."""
    if job.state is not JobState.running or job.started_at is None:
        return None
    progress = job.progress or 0.0
    elapsed = ((now or utcnow()) - job.started_at).total_seconds()
    if progress < 0.02 or progress >= 1.0 or elapsed < 3:
        return None
    seconds = elapsed * (1.0 - progress) / progress
    if seconds < 120:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def cancel(db: Session, job: Job, user: User) -> Job:
    if user.role is not Role.admin and job.created_by_id != user.id:
        raise Forbidden("only the job's creator or an admin can cancel it")
    if not repository.cancel(db, job.id, utcnow()):
        raise Conflict(f"job {job.id} already {job.state.value}")
    db.refresh(job)
    return job


def reap(db: Session, *, stale_after_s: int, max_attempts: int) -> list[int]:
    """Re-queue running jobs whose worker stopped beating, and re-send lost queued jobs.

    Returns the ids to send; the caller sends them after committing.
    """
    now = utcnow()
    cutoff = now - timedelta(seconds=stale_after_s)
    to_send: list[tuple[int, str]] = []
    for job in repository.stale_running(db, cutoff):
        if job.attempts >= max_attempts:
            repository.finish(
                db,
                job.id,
                now,
                JobState.failed,
                error=f"the worker stopped responding {job.attempts} times; giving up",
            )
            hook = on_failure_of(job.kind)
            if hook is not None:
                hook(db, job)
            continue
        if repository.requeue(db, job, now, "worker lost; re-queued"):
            to_send.append((job.id, job.kind))
    for job in repository.unclaimed_queued(db, cutoff):
        if repository.requeue(db, job, now, "waiting for a worker (re-sent)"):
            to_send.append((job.id, job.kind))
    for job_id, kind in to_send:
        after_commit(db, lambda job_id=job_id, kind=kind: _send(job_id, kind))  # type: ignore[misc]
    return [job_id for job_id, _ in to_send]


def redispatch_queued(db: Session) -> list[int]:
    """Send every queued job again (a worker starting after the broker lost its messages, e.g. a
    Redis restart). A job already taken answers the second message with a no-op claim."""
    queued = repository.unclaimed_queued(db, utcnow())
    for job in queued:
        after_commit(db, lambda job_id=job.id, kind=job.kind: _send(job_id, kind))  # type: ignore[misc]
    return [job.id for job in queued]


def jobs_with_param(
    db: Session,
    project_id: int,
    kinds: Sequence[str],
    key: str,
    value: Any,
    *,
    since: datetime,
) -> list[Job]:
    """A project's jobs of these kinds created since ``since`` whose params hold key=value
    (how a run finds its chunk jobs)."""
    return [
        j for j in repository.of_kinds(db, project_id, kinds, since) if j.params.get(key) == value
    ]
