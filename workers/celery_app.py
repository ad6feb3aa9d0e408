"""The Celery app. Messages carry job ids only; the jobs table is the truth.

Embedded mode uses kombu's SQLAlchemy transport on a SQLite file beside the database, so a real
worker process runs with no Redis installed. Production points TRELLIS_BROKER_URL at Redis.
"""

from __future__ import annotations

from celery import Celery

from app.config import get_settings

settings = get_settings()

celery_app = Celery("trellis", broker=settings.effective_broker_url, include=["workers.tasks"])
celery_app.conf.update(
    task_acks_late=True,  # a task lost with its worker is redelivered
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,  # long jobs: don't hoard messages
    task_ignore_result=True,  # outcomes live in the jobs table
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={
        "reap-stale-jobs": {"task": "trellis.reap_jobs", "schedule": settings.reaper_interval_s},
    },
)
if settings.embedded:
    # kombu's SQLAlchemy transport hands its transport options to create_engine(), so the
    # queue is polled at the virtual transport's default (once a second).
    settings.data_dir.mkdir(parents=True, exist_ok=True)
