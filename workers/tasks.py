"""Thin tasks: take ids, call the domain, keep no state of their own."""

from __future__ import annotations

import logging

from celery.signals import worker_ready

from app import job_handlers  # noqa: F401 - registers every job kind
from app.config import get_settings
from app.db import get_session_factory, session_scope
from app.jobs import service as jobs
from app.jobs.runner import run_job as run_job_now
from workers.celery_app import celery_app

log = logging.getLogger(__name__)


@celery_app.task(name="trellis.run_job", acks_late=True)  # type: ignore[untyped-decorator]
def run_job(job_id: int) -> str:
    settings = get_settings()
    state = run_job_now(job_id, get_session_factory(), heartbeat_s=settings.job_heartbeat_s)
    return state.value


@celery_app.task(name="trellis.reap_jobs")  # type: ignore[untyped-decorator]
def reap_jobs() -> list[int]:
    settings = get_settings()
    with session_scope() as db:
        requeued = jobs.reap(
            db, stale_after_s=settings.job_stale_after_s, max_attempts=settings.job_max_attempts
        )
    if requeued:
        log.warning("re-queued jobs %s", requeued)
    return requeued


@worker_ready.connect  # type: ignore[untyped-decorator]
def redispatch_on_start(**_kwargs: object) -> None:
    """The broker may have lost messages while no worker listened (a Redis restart keeps
    nothing): the jobs table is the truth, so a starting worker sends its queued jobs again."""
    try:
        with session_scope(write=True) as db:
            sent = jobs.redispatch_queued(db)
    except Exception:  # the reaper re-sends them later anyway
        log.warning("could not re-send queued jobs at start", exc_info=True)
        return
    if sent:
        log.info("re-sent %s queued jobs at start", len(sent))


@celery_app.task(name="trellis.poll_training")  # type: ignore[untyped-decorator]
def poll_training() -> dict[int, str]:
    """Re-attach to every active training run by its handle: metrics, logs, final state."""
    from app.training_runs import lifecycle

    return lifecycle.poll_all(get_session_factory())
