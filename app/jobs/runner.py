"""Runs one job in a worker: claim it, beat, call its handler, record the outcome.

Handlers get a `JobContext` and return a JSON-able result. Every DB write about the job itself
happens in its own short transaction, so progress is visible while the handler's work is not yet
committed, and a crash leaves a stale heartbeat for the reaper instead of a lie.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app import public_errors
from app.db import transaction
from app.errors import AppError
from app.jobs import repository
from app.jobs.registry import handler_for, on_failure_of
from app.models import JobState
from app.models.base import utcnow

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    pass


@dataclass
class JobContext:
    job_id: int
    kind: str
    params: dict[str, Any]
    project_id: int | None
    user_id: int | None
    attempt: int
    session_factory: sessionmaker[Session]
    min_interval_s: float = 0.5
    _last_write: float = field(default=0.0, repr=False)

    def progress(self, fraction: float, message: str = "", *, force: bool = False) -> None:
        """Record progress (throttled); raises JobCancelled when the user cancelled the job."""
        now = time.monotonic()
        if not force and now - self._last_write < self.min_interval_s:
            return
        self._last_write = now
        fraction = min(max(fraction, 0.0), 1.0)
        state = transaction(
            lambda db: repository.heartbeat(
                db, self.job_id, utcnow(), progress=fraction, message=message[:500]
            ),
            self.session_factory,
        )
        if state is JobState.cancelled:
            raise JobCancelled


class _Heartbeat(threading.Thread):
    """Beats while a handler runs, even through long stretches without progress calls."""

    def __init__(self, job_id: int, factory: sessionmaker[Session], every_s: float) -> None:
        super().__init__(daemon=True, name=f"job-{job_id}-heartbeat")
        self.job_id, self.factory, self.every_s = job_id, factory, every_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            try:
                transaction(
                    lambda db: repository.heartbeat(db, self.job_id, utcnow()), self.factory
                )
            except Exception:
                log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)


def run_job(job_id: int, factory: sessionmaker[Session], heartbeat_s: float = 10.0) -> JobState:
    """Run a queued job to its end. Returns the state it ended in (or its current state when
    it was not ours to run: already running elsewhere, finished, or cancelled)."""
    ctx, state = transaction(lambda db: _claim(db, job_id, factory), factory)
    if ctx is None:
        if state in (JobState.failed, JobState.cancelled):
            _after_failure(job_id, factory)  # e.g. cancelled before a worker took it
        return state
    handler = handler_for(ctx.kind)
    beat = _Heartbeat(job_id, factory, heartbeat_s)
    beat.start()
    outcome: tuple[JobState, dict[str, Any]]
    try:
        if handler is None:
            raise AppError(f"no handler for job kind '{ctx.kind}'")
        result = handler(ctx)
        outcome = (JobState.succeeded, {"result": result, "progress": 1.0, "message": "done"})
    except JobCancelled:
        outcome = (JobState.cancelled, {})
    except AppError as exc:
        error = public_errors.scrub_paths(exc.message)
        outcome = (JobState.failed, {"error": error, "result": _details(exc)})
    except Exception as exc:
        log.exception("job %s (%s) crashed", job_id, ctx.kind)
        outcome = (JobState.failed, {"error": _user_message(exc)})
    finally:
        beat.stopped.set()
        beat.join()

    def finish(db: Session) -> JobState:
        if outcome[0] is not JobState.cancelled:
            repository.finish(db, job_id, utcnow(), outcome[0], **outcome[1])
        job = repository.get(db, job_id)
        return job.state if job else outcome[0]

    final = transaction(finish, factory)
    if final in (JobState.failed, JobState.cancelled):
        _after_failure(job_id, factory)
    return final


def _claim(
    db: Session, job_id: int, factory: sessionmaker[Session]
) -> tuple[JobContext | None, JobState]:
    claimed = repository.claim(db, job_id, utcnow())
    job = repository.get(db, job_id)
    if job is None:
        log.warning("job %s does not exist", job_id)
        return None, JobState.failed
    if not claimed:
        return None, job.state
    ctx = JobContext(
        job_id=job.id,
        kind=job.kind,
        params=dict(job.params),
        project_id=job.project_id,
        user_id=job.created_by_id,
        attempt=job.attempts,
        session_factory=factory,
    )
    return ctx, job.state


def _after_failure(job_id: int, factory: sessionmaker[Session]) -> None:
    """Let the job's domain mark its own rows (an export snapshot, a check run) failed too, so no
    page shows "pending" for work that will never finish."""

    def mark(db: Session) -> None:
        job = repository.get(db, job_id)
        hook = on_failure_of(job.kind) if job else None
        if job is not None and hook is not None:
            hook(db, job)

    try:
        transaction(mark, factory)
    except Exception:
        log.exception("could not record the failure of job %s on its own rows", job_id)


def _user_message(exc: Exception) -> str:
    """What a user sees of an unexpected error: its kind and first line, never SQL, a stack
    trace or a server path (the full traceback goes to the worker's log)."""
    if type(exc).__module__.startswith(("sqlalchemy", "sqlite3", "psycopg")):
        return public_errors.describe(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    text = str(exc).strip()
    first = public_errors.scrub_paths(text.splitlines()[0])[:300] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _details(exc: AppError) -> dict[str, Any] | None:
    return exc.details if isinstance(exc.details, dict) else None
