"""Job kinds: which handler runs a kind, on which queue it waits, and what its domain does when
a job of that kind fails or is cancelled.

Kinds are registered by the composition root (`app/job_handlers.py`), never by this shared
layer, so `jobs` imports no domain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from app.jobs.runner import JobContext
    from app.models import Job

Queue = Literal["short", "long"]
SHORT: Queue = "short"
"""Imports, exports, bulk actions: seconds. The embedded server keeps a worker just for these."""
LONG: Queue = "long"
"""Contamination and diversity chunks, eval-set indexes: minutes of CPU each."""
QUEUES: tuple[Queue, ...] = (SHORT, LONG)

Handler = Callable[["JobContext"], dict[str, Any]]
FailureHook = Callable[[Session, "Job"], None]


@dataclass(frozen=True, slots=True)
class JobKind:
    handler: Handler
    queue: Queue
    on_failure: FailureHook | None


_kinds: dict[str, JobKind] = {}


def register(
    kind: str, *, queue: Queue = SHORT, on_failure: FailureHook | None = None
) -> Callable[[Handler], Handler]:
    def decorator(fn: Handler) -> Handler:
        _kinds[kind] = JobKind(fn, queue, on_failure)
        return fn

    return decorator


def handler_for(kind: str) -> Handler | None:
    info = _kinds.get(kind)
    return info.handler if info else None


def queue_for(kind: str) -> Queue:
    info = _kinds.get(kind)
    return info.queue if info else SHORT


def on_failure_of(kind: str) -> FailureHook | None:
    info = _kinds.get(kind)
    return info.on_failure if info else None
