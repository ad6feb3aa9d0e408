"""The one interface every training backend implements, and what it speaks in.

A backend starts the runner (`python -m app.training.runner RUN_DIR`) somewhere and answers
for it afterwards. `submit` returns a *handle*: a string the caller stores (a JSON object) that
carries everything needed to find the run again, so a process that has only the stored handle
(a worker that replaced a dead one) can ask for status, logs, sync and cancel.

Nothing here imports the web app or the database: the Ray backend ships this package to the
cluster with the runner.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "runner.log"
EXIT_FILE = "exit_code.json"
CANCEL_FILE = "cancel_requested"


class RunState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    MANUAL = "manual"  # files written for the user to submit by hand; Trellis does not follow

    @property
    def terminal(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


@dataclass(frozen=True)
class Resources:
    """What the form asked for. `gpus` whole devices; `cpus` cores for the runner process."""

    gpus: int = 0
    cpus: float = 1.0
    memory_gb: float | None = None
    gpu_type: str | None = None  # e.g. "A100-80GB"; used where the scheduler needs a name
    time_limit_minutes: int | None = None

    def __post_init__(self) -> None:
        if self.gpus < 0:
            raise ValueError("gpus must be >= 0")
        if self.cpus <= 0:
            raise ValueError("cpus must be > 0")
        if self.memory_gb is not None and self.memory_gb <= 0:
            raise ValueError("memory_gb must be > 0")
        if self.time_limit_minutes is not None and self.time_limit_minutes <= 0:
            raise ValueError("time_limit_minutes must be > 0")


@dataclass(frozen=True)
class BackendStatus:
    state: RunState
    detail: str = ""
    exit_code: int | None = None


class BackendError(Exception):
    """A backend could not do what was asked (bad handle, refused submission...)."""


class BackendUnavailable(BackendError):
    """The backend could not be reached (cluster down, network): retry later, the run may live."""


@runtime_checkable
class TrainingBackend(Protocol):
    name: str

    def submit(self, run_dir: Path, resources: Resources) -> str:
        """Start the runner on RUN_DIR; return the handle to store."""
        ...

    def status(self, handle: str) -> BackendStatus: ...

    def logs(self, handle: str, tail: int = 200) -> str:
        """The last `tail` lines of the runner's output."""
        ...

    def sync(self, handle: str) -> None:
        """Bring RUN_DIR/metrics.jsonl (and summary.json once finished) up to date here."""
        ...

    def cancel(self, handle: str) -> None:
        """Stop the run; returns once it has stopped or been killed."""
        ...


def encode_handle(backend: str, **fields: Any) -> str:
    return json.dumps({"backend": backend, **fields}, sort_keys=True, separators=(",", ":"))


def decode_handle(handle: str, backend: str) -> dict[str, Any]:
    try:
        data = json.loads(handle)
    except json.JSONDecodeError as exc:
        raise BackendError(f"not a training run handle: {handle[:80]!r}") from exc
    if not isinstance(data, dict) or data.get("backend") != backend:
        raise BackendError(f"handle is not for the {backend!r} backend: {handle[:80]!r}")
    return data


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """RUN_DIR/summary.json as a dict, or None when absent or not (yet) valid JSON."""
    try:
        data = json.loads((run_dir / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of RUN_DIR/metrics.jsonl (a half-written last line is skipped)."""
    try:
        text = (run_dir / METRICS_FILE).read_text()
    except OSError:
        return []
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def status_from_summary(summary: dict[str, Any], exit_code: int | None) -> BackendStatus:
    """The final state the runner itself reported."""
    try:
        state = RunState(str(summary.get("state")))
    except ValueError:
        state = RunState.FAILED
    if not state.terminal:
        state = RunState.FAILED
    if state is RunState.SUCCEEDED and exit_code not in (None, 0):
        detail = f"summary says succeeded, exit code {exit_code}"
        return BackendStatus(RunState.FAILED, detail, exit_code)
    detail = str(summary.get("error") or "") if state is not RunState.SUCCEEDED else ""
    return BackendStatus(state, detail, exit_code)


def tail_lines(text: str, tail: int) -> str:
    if tail <= 0:
        return ""
    lines = text.splitlines()
    return "\n".join(lines[-tail:])


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so a reader sees either the old content or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
