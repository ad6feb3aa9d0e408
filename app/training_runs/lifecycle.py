"""A run's life after it is created: submit it, poll it, cancel it. Workers call these.

Everything a worker needs lives in the database (the backend's handle, the run directory), so
any worker can carry on where another stopped, even one killed with SIGKILL mid-run: the poller
rebuilds the backend from the stored handle and re-attaches. Each step is a short transaction;
the backend calls (submit, sync, status, cancel) happen between transactions, never inside one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import Conflict, NotFound
from app.models.base import utcnow
from app.training.backends import (
    MANUAL_BACKENDS,
    BackendError,
    BackendStatus,
    BackendUnavailable,
    Resources,
    RunState,
    backend_for_handle,
    get_backend,
)
from app.training.backends.base import read_metrics, read_summary
from app.training_runs import repository

log = logging.getLogger(__name__)
LOG_TAIL_LINES = 200


@dataclass(frozen=True)
class RunView:
    """What a poll needs from the row, read in one short transaction."""

    id: int
    state: str
    backend: str
    handle: str | None
    run_dir: str
    resources: dict[str, Any]
    cancel_requested: bool


def _view(db: Session, run_id: int) -> RunView:
    run = repository.get(db, run_id)
    if run is None:
        raise NotFound(f"training run {run_id} not found")
    return RunView(run.id, run.state, run.backend, run.handle, run.run_dir,
                   dict(run.resources), run.cancel_requested)  # fmt: skip


def _claim(db: Session, run_id: int) -> RunView | None:
    """Mark the run submitting; None when there is nothing to submit (cancelled, or submitted
    already). A run left `submitting` without a handle (its worker died mid-submit) is taken
    again: Ray recognises a duplicate submit; a local twin is possible in that narrow window."""
    run = repository.get_for_update(db, run_id)
    if run is None:
        raise NotFound(f"training run {run_id} not found")
    if run.handle is not None or run.state not in ("queued", "submitting"):
        return None
    run.state = "submitting"
    return _view(db, run_id)


def _store_handle(db: Session, run_id: int, backend: str, handle: str) -> None:
    run = repository.get_for_update(db, run_id)
    if run is None:
        return
    run.handle = handle
    run.state = "manual" if backend in MANUAL_BACKENDS else "running"
    run.started_at = utcnow()


def _fail(db: Session, run_id: int, reason: str) -> None:
    run = repository.get_for_update(db, run_id)
    if run is not None and not run.finished:
        run.state, run.error, run.finished_at = "failed", reason[:2000], utcnow()


def submit(run_id: int, factory: sessionmaker[Session] | None = None) -> dict[str, Any]:
    """Hand the run to its backend and store the handle (the `training_submit` job)."""
    view = transaction(lambda db: _claim(db, run_id), factory)
    if view is None:
        state = transaction(lambda db: _view(db, run_id).state, factory, write=False)
        return {"run_id": run_id, "state": state, "submitted": False}
    try:
        backend = get_backend(view.backend)
        handle = backend.submit(Path(view.run_dir), Resources(**view.resources))
    except (BackendError, ValueError, OSError) as exc:
        reason = f"the {view.backend} backend refused the run: {exc}"
        transaction(lambda db: _fail(db, run_id, reason), factory)
        return {"run_id": run_id, "state": "failed", "submitted": False, "error": reason}
    transaction(lambda db: _store_handle(db, run_id, view.backend, handle), factory)
    state = poll_run(run_id, factory)
    return {"run_id": run_id, "state": state, "submitted": True}


def _merged(previous: dict[str, Any] | None, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The latest value of every metric (an eval line keeps the last train loss, and back)."""
    merged = dict(previous or {})
    for row in rows:
        if row.get("event") not in ("train", "eval", "end"):
            continue
        merged.update({k: v for k, v in row.items() if v is not None})
    return merged


def _state_of(status: BackendStatus) -> str:
    if status.state in (RunState.PENDING, RunState.RUNNING):
        return "running"
    return status.state.value


def _record(
    db: Session,
    run_id: int,
    rows: list[dict[str, Any]],
    status: BackendStatus | None,
    logs: str | None,
    detail: str | None = None,
) -> str:
    run = repository.get_for_update(db, run_id)
    if run is None:
        raise NotFound(f"training run {run_id} not found")
    if run.finished:
        return run.state
    start = repository.max_seq(db, run_id) + 1
    new = rows[start:]
    if new:
        repository.add_metrics(db, run_id, list(enumerate(new, start=start)))
        run.last_metrics = _merged(run.last_metrics, new)
        run.metrics_count = start + len(new)
    if logs is not None:
        run.log_tail = logs
    run.polled_at = utcnow()
    if status is None:
        run.detail = detail
        return run.state
    run.detail = status.detail or detail
    run.state = _state_of(status)
    if status.state.terminal:
        run.finished_at = utcnow()
        run.summary = read_summary(Path(run.run_dir))
        if status.state is RunState.SUCCEEDED:
            relative = (run.summary or {}).get("adapter_dir") or "output/adapter"
            adapter = Path(run.run_dir) / relative
            run.adapter_path = str(adapter) if adapter.is_dir() else None
        else:
            run.error = status.detail or f"the run {status.state.value}"
    return run.state


def poll_run(run_id: int, factory: sessionmaker[Session] | None = None) -> str:
    """Re-attach to the run by its handle: cancel when asked, sync, ingest the new metric lines,
    read its state and log tail, record them. Returns the run's state."""
    view = transaction(lambda db: _view(db, run_id), factory, write=False)
    if view.handle is None or view.state in ("succeeded", "failed", "cancelled"):
        return view.state
    handle = view.handle
    try:
        backend = backend_for_handle(handle)
        if view.cancel_requested and view.state != "manual":
            backend.cancel(handle)
        backend.sync(handle)
        status: BackendStatus | None = backend.status(handle)
        logs: str | None = backend.logs(handle, LOG_TAIL_LINES)
        detail = None
    except BackendUnavailable as exc:
        status, logs, detail = None, None, f"backend unreachable, will retry: {exc}"
    except BackendError as exc:
        status, logs, detail = BackendStatus(RunState.FAILED, str(exc)), None, None
    rows = read_metrics(Path(view.run_dir))
    try:
        return transaction(lambda db: _record(db, run_id, rows, status, logs, detail), factory)
    except IntegrityError:  # another worker stored the same lines first: next poll goes on
        log.info("training run %s was recorded by another poller", run_id)
        return view.state


def stop(handle: str) -> None:
    """Tell the backend to stop the run now (returns once it stopped, or was killed); the
    next poll records the state. For local runs the cancel request calls this itself."""
    try:
        backend_for_handle(handle).cancel(handle)
    except BackendError as exc:
        raise Conflict(f"the run could not be stopped: {exc}") from exc


def poll_all(factory: sessionmaker[Session] | None = None) -> dict[int, str]:
    """Poll every submitted, unfinished run (the beat task)."""
    ids = transaction(repository.active_ids, factory, write=False)
    states: dict[int, str] = {}
    for run_id in ids:
        try:
            states[run_id] = poll_run(run_id, factory)
        except Exception:
            log.exception("polling training run %s failed; the next poll retries", run_id)
    return states
