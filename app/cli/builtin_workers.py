"""The Celery workers `trellis serve` runs beside the web server, and their lifetime.

Two workers, so that a short job (an import, an export, a bulk review) never waits behind
contamination and diversity chunks that take minutes: one consumes only the `short` queue, the
other both. Each gets the server's pid and exits when the server is gone (see
workers/celery_app.py); their pids are kept in the data folder, so the next start can stop the
workers of a server that was killed with no chance to stop them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from app.config import Settings
from app.jobs.registry import LONG, SHORT

PIDS_FILE = "workers.pids"
LOCK_FILE = "serve.lock"


def worker_argv(
    settings: Settings, concurrency: int, *, beat: bool, queues: str, name: str
) -> list[str]:
    argv = [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker",
            "--loglevel", "INFO", "--concurrency", str(concurrency), "--queues", queues,
            "--hostname", f"{name}@%h"]  # fmt: skip
    if beat:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--beat", "--schedule", str(settings.data_dir / "celerybeat-schedule")]
    return argv


class ServerLock:
    """One `trellis serve` per data folder: a second one would start a second set of workers
    on the same database."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / LOCK_FILE
        self._fh: IO[str] | None = None

    def acquire(self) -> str | None:
        """None when acquired, else a message naming the server that holds it."""
        fh = self.path.open("a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            return f"another `trellis serve` (pid {holder}) is running on {self.path.parent}"
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return None

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class BuiltInWorkers:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pids_file = settings.data_dir / PIDS_FILE
        self.procs: list[subprocess.Popen[bytes]] = []

    def stop_leftovers(self) -> list[int]:
        """Stop workers a previous server on this data folder left running; returns their pids."""
        try:
            pids = [int(p) for p in json.loads(self.pids_file.read_text())]
        except (OSError, ValueError, TypeError):
            return []
        stopped = [pid for pid in pids if _is_our_worker(pid)]
        for pid in stopped:
            _stop_group(pid, grace_s=15)
        self.pids_file.unlink(missing_ok=True)
        return stopped

    def start(self) -> None:
        total = self.settings.worker_concurrency
        env = {**os.environ, "TRELLIS_PARENT_PID": str(os.getpid())}
        tag = os.getpid()
        plan = [
            (SHORT, 1, True, f"trellis-short-{tag}"),
            (f"{LONG},{SHORT}", max(1, total - 1), False, f"trellis-{tag}"),
        ]
        for queues, concurrency, beat, name in plan:
            argv = worker_argv(self.settings, concurrency, beat=beat, queues=queues, name=name)
            # Its own process group: Ctrl+C in the terminal (or a signal to this server's group)
            # must not reach the worker's pool processes directly. Killed under its main
            # process, they leave it hung for good in the pool's exit handler; workers are
            # stopped through their main process, which shuts its pool down in order.
            self.procs.append(subprocess.Popen(argv, start_new_session=True, env=env))  # noqa: S603
        self.pids_file.write_text(json.dumps([p.pid for p in self.procs]))

    def stop(self) -> None:
        """Warm shutdown (finish the running tasks) for up to 30 s, then kill what is left."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.pids_file.unlink(missing_ok=True)


def _is_our_worker(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"workers.celery_app" in cmdline and b"worker" in cmdline


def _stop_group(pid: int, grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _is_our_worker(pid):
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
