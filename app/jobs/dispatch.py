"""How a committed job reaches a worker. Kept behind a tiny interface so services stay free of
Celery, and tests can run jobs inline or record what would have been sent."""

from __future__ import annotations

from typing import Protocol


class Dispatcher(Protocol):
    def send(self, job_id: int, queue: str = "short") -> None: ...


class CeleryDispatcher:
    def send(self, job_id: int, queue: str = "short") -> None:
        from workers.celery_app import celery_app

        celery_app.send_task("trellis.run_job", args=[job_id], queue=queue)


_dispatcher: Dispatcher = CeleryDispatcher()


def get_dispatcher() -> Dispatcher:
    return _dispatcher


def set_dispatcher(dispatcher: Dispatcher) -> Dispatcher:
    """Swap the dispatcher (tests, CLI running jobs inline); returns the previous one."""
    global _dispatcher
    previous, _dispatcher = _dispatcher, dispatcher
    return previous
