"""Jobs: enqueue after commit, idempotent claims, the reaper, cancellation and failures."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from app.jobs import repository, service
from app.jobs.registry import register
from app.jobs.runner import JobContext, run_job
from app.models import Job, JobState
from app.models.base import utcnow
from tests.factories import RecordingDispatcher


@register("test.echo")
def _echo(ctx: JobContext) -> dict[str, object]:
    ctx.progress(0.5, "halfway", force=True)
    return {"echo": ctx.params["value"], "attempt": ctx.attempt}


@register("test.boom")
def _boom(ctx: JobContext) -> dict[str, object]:
    raise ValueError("kaboom")


def test_job_is_sent_only_after_commit(db: Session, dispatcher: RecordingDispatcher) -> None:
    job = service.create(db, kind="test.echo", params={"value": 1}, project_id=None, user_id=None)
    assert dispatcher.sent == []
    db.commit()
    assert dispatcher.sent == [job.id]


def test_rolled_back_job_is_never_sent(db: Session, dispatcher: RecordingDispatcher) -> None:
    service.create(db, kind="test.echo", params={"value": 1}, project_id=None, user_id=None)
    db.rollback()
    db.commit()
    assert dispatcher.sent == []


def test_run_job_succeeds_and_a_second_delivery_is_a_no_op(
    db: Session, session_factory: sessionmaker[Session], dispatcher: RecordingDispatcher
) -> None:
    job = service.create(db, kind="test.echo", params={"value": 7}, project_id=None, user_id=None)
    db.commit()
    assert run_job(job.id, session_factory, heartbeat_s=3600) is JobState.succeeded
    assert run_job(job.id, session_factory, heartbeat_s=3600) is JobState.succeeded
    db.expire_all()
    done = db.get(Job, job.id)
    assert done is not None
    assert (done.state, done.progress, done.attempts) == (JobState.succeeded, 1.0, 1)
    assert done.result == {"echo": 7, "attempt": 1}


def test_crashing_handler_fails_the_job_with_its_error(
    db: Session, session_factory: sessionmaker[Session], dispatcher: RecordingDispatcher
) -> None:
    job = service.create(db, kind="test.boom", params={}, project_id=None, user_id=None)
    db.commit()
    assert run_job(job.id, session_factory, heartbeat_s=3600) is JobState.failed
    db.expire_all()
    failed = db.get(Job, job.id)
    # The user sees the kind of failure and its first line (server paths cut, the traceback
    # only in the server log: see test_failures_and_queues).
    assert failed is not None and failed.error is not None
    assert failed.error == "ValueError: kaboom"


def test_reaper_requeues_a_job_whose_worker_died(
    db: Session, session_factory: sessionmaker[Session], dispatcher: RecordingDispatcher
) -> None:
    job = service.create(db, kind="test.echo", params={"value": 3}, project_id=None, user_id=None)
    db.commit()
    dispatcher.sent.clear()
    # A worker claimed it, then died: heartbeat goes stale.
    assert repository.claim(db, job.id, utcnow() - timedelta(minutes=10))
    db.commit()
    assert service.reap(db, stale_after_s=60, max_attempts=3) == [job.id]
    db.commit()
    assert dispatcher.sent == [job.id]
    assert run_job(job.id, session_factory, heartbeat_s=3600) is JobState.succeeded
    db.expire_all()
    again = db.get(Job, job.id)
    assert again is not None and again.attempts == 2


def test_reaper_gives_up_after_max_attempts(db: Session, dispatcher: RecordingDispatcher) -> None:
    job = service.create(db, kind="test.echo", params={"value": 3}, project_id=None, user_id=None)
    db.commit()
    for _ in range(3):
        db.get(Job, job.id).state = JobState.queued  # type: ignore[union-attr]
        db.commit()
        repository.claim(db, job.id, utcnow() - timedelta(minutes=10))
        db.commit()
    assert service.reap(db, stale_after_s=60, max_attempts=3) == []
    db.commit()
    db.expire_all()
    dead = db.get(Job, job.id)
    assert dead is not None and dead.state is JobState.failed and "3 times" in (dead.error or "")


def test_reaper_resends_queued_jobs_nobody_picked_up(
    db: Session, dispatcher: RecordingDispatcher
) -> None:
    job = service.create(db, kind="test.echo", params={"value": 3}, project_id=None, user_id=None)
    job.updated_at = utcnow() - timedelta(minutes=5)
    db.commit()
    dispatcher.sent.clear()
    assert service.reap(db, stale_after_s=60, max_attempts=3) == [job.id]
    db.commit()
    assert dispatcher.sent == [job.id]


def test_cancelled_job_stops_at_next_progress(
    db: Session, session_factory: sessionmaker[Session], dispatcher: RecordingDispatcher
) -> None:
    seen: list[str] = []

    @register("test.slow")
    def _slow(ctx: JobContext) -> dict[str, object]:
        with session_factory() as other:
            repository.cancel(other, ctx.job_id, utcnow())
            other.commit()
        seen.append("cancelled")
        ctx.progress(0.1, force=True)
        seen.append("went on")
        return {}

    job = service.create(db, kind="test.slow", params={}, project_id=None, user_id=None)
    db.commit()
    assert run_job(job.id, session_factory, heartbeat_s=3600) is JobState.cancelled
    assert seen == ["cancelled"]
