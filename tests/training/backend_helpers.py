"""Shared by the backend tests: run directories for the stand-in runner, and waiting."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.training.backends import BackendStatus, RunState, TrainingBackend

STAND_IN = Path(__file__).with_name("stand_in_runner.py")
STAND_IN_COMMAND = [sys.executable, str(STAND_IN)]


def stand_in_run_dir(path: Path, **stand_in: Any) -> Path:
    """A run directory for the stand-in runner (which it also carries, for Ray jobs)."""
    (path / "data").mkdir(parents=True)
    (path / "data" / "train.jsonl").write_text('{"messages": []}\n')
    (path / "config.json").write_text(json.dumps({"method": "sft", "stand_in": stand_in}))
    shutil.copy(STAND_IN, path / STAND_IN.name)
    return path


def wait_for(
    backend: TrainingBackend,
    handle: str,
    done: Callable[[BackendStatus], bool],
    timeout: float = 60.0,
) -> BackendStatus:
    deadline = time.monotonic() + timeout
    status = backend.status(handle)
    while not done(status):
        if time.monotonic() > deadline:
            raise AssertionError(f"still {status} after {timeout}s: {backend.logs(handle, 30)}")
        time.sleep(0.2)
        status = backend.status(handle)
    return status


def finished(status: BackendStatus) -> bool:
    return status.state.terminal


def running(status: BackendStatus) -> bool:
    return status.state is RunState.RUNNING or status.state.terminal
