"""The Celery app. Messages carry job ids only; the jobs table is the truth.

Embedded mode uses kombu's SQLAlchemy transport on a SQLite file beside the database, so a real
worker process runs with no Redis installed. Production points TRELLIS_BROKER_URL at Redis.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from celery import Celery
from celery.signals import worker_init

from app.config import get_settings
from app.jobs.registry import SHORT

log = logging.getLogger(__name__)

settings = get_settings()
# Before any job imports torch (or numpy's BLAS), which size their thread pools from this once;
# an explicit OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", str(settings.effective_job_threads))

celery_app = Celery("trellis", broker=settings.effective_broker_url, include=["workers.tasks"])
celery_app.conf.update(
    task_acks_late=True,  # a task lost with its worker is redelivered
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # long jobs: don't hoard messages
    task_ignore_result=True,  # outcomes live in the jobs table
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    task_default_queue=SHORT,  # the reaper's beat task; jobs name their queue when sent
    beat_schedule={
        "reap-stale-jobs": {"task": "trellis.reap_jobs", "schedule": settings.reaper_interval_s},
        # Training runs are followed through their stored handles by whichever worker runs beat.
        "poll-training-runs": {
            "task": "trellis.poll_training",
            "schedule": settings.training_poll_s,
            "options": {"expires": max(10.0, 3 * settings.training_poll_s)},  # stale polls drop
        },
    },
)
if settings.embedded:
    # kombu's SQLAlchemy transport hands its transport options to create_engine(), so the
    # queue is polled at the virtual transport's default (once a second).
    settings.data_dir.mkdir(parents=True, exist_ok=True)


@worker_init.connect  # type: ignore[untyped-decorator]
def _exit_with_parent(**_kwargs: object) -> None:
    """A worker that `trellis serve` started ends when that server is gone, even after a
    `kill -9` of the server: warm shutdown first, then the whole process group."""
    parent = os.environ.get("TRELLIS_PARENT_PID")
    if not parent or not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(1.0)
        log.warning("the server (pid %s) is gone; this worker stops too", parent)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(20)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="watch-server", daemon=True).start()
