"""`local`: the runner as a subprocess on this host, in its own session and process group.

The handle records the wrapper's pid, its start time (so a recycled pid is not taken for ours)
and the run directory. Everything else is on disk: the wrapper writes RUN_DIR/exit_code.json
when the runner ends, the runner writes summary.json and metrics.jsonl, both write their
output to RUN_DIR/runner.log. A new process given only the handle therefore answers status,
logs and cancel exactly as the submitting one would; the run does not depend on the submitting
process staying alive.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil

from app.training.backends.base import (
    CANCEL_FILE,
    EXIT_FILE,
    LOG_FILE,
    BackendError,
    BackendStatus,
    Resources,
    RunState,
    decode_handle,
    encode_handle,
    read_summary,
    status_from_summary,
    tail_lines,
)
from app.training.backends.launch import runner_command

# The directory that holds the `app` package, so the runner imports this very code.
SOURCE_ROOT = Path(__file__).resolve().parents[3]
START_TIME_TOLERANCE_S = 0.05


def _read_exit(run_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir / EXIT_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("exit_code"), int):
        return None
    return data


class LocalBackend:
    name = "local"

    def __init__(
        self,
        *,
        runner_command: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        grace_s: float = 10.0,
    ) -> None:
        """`runner_command` is run with RUN_DIR appended; by default the runner is started by
        this Python (`-m app.training.runner`, or `accelerate launch` for several GPUs)."""
        self.runner_command = list(runner_command) if runner_command else None
        self.env = dict(env or {})
        self.grace_s = grace_s
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- submit ---------------------------------------------------------------------------------
    def submit(self, run_dir: Path, resources: Resources) -> str:
        run_dir = run_dir.resolve()
        if not (run_dir / "config.json").is_file():
            raise BackendError(f"{run_dir} has no config.json")
        for stale in (EXIT_FILE, CANCEL_FILE):
            (run_dir / stale).unlink(missing_ok=True)
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH", "")) if p
        )
        env["PYTHONUNBUFFERED"] = "1"
        if resources.gpus == 0:
            env.setdefault("CUDA_VISIBLE_DEVICES", "")
        if self.runner_command is None:
            runner = runner_command(
                run_dir, str(run_dir), resources.gpus, python=sys.executable, relative=False
            )
        else:
            runner = [*self.runner_command, str(run_dir)]
        command = [
            sys.executable,
            "-m",
            "app.training.backends.wrapper",
            str(run_dir),
            "--",
            *runner,
        ]
        with (run_dir / LOG_FILE).open("ab") as log:
            child = subprocess.Popen(  # noqa: S603 - our own wrapper and runner
                command,
                cwd=run_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._children[child.pid] = child
        started = psutil.Process(child.pid).create_time()
        return encode_handle("local", pid=child.pid, start=started, run_dir=str(run_dir))

    # -- attach ---------------------------------------------------------------------------------
    def _parse(self, handle: str) -> tuple[int, float, Path]:
        data = decode_handle(handle, "local")
        try:
            return int(data["pid"]), float(data["start"]), Path(data["run_dir"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BackendError(f"malformed local handle: {handle[:80]!r}") from exc

    def _alive(self, pid: int, start: float) -> bool:
        """True while our wrapper process (this pid, this start time) runs."""
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:  # reap it if we are its parent
            del self._children[pid]
            return False
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - start) > START_TIME_TOLERANCE_S:
                return False  # the pid was recycled
            return bool(proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return False

    def status(self, handle: str) -> BackendStatus:
        pid, start, run_dir = self._parse(handle)
        if self._alive(pid, start):
            return BackendStatus(RunState.RUNNING, f"pid {pid}")
        exit_record = _read_exit(run_dir)
        exit_code = None if exit_record is None else int(exit_record["exit_code"])
        summary = read_summary(run_dir)
        if summary is not None:
            return status_from_summary(summary, exit_code)
        cancelled = (run_dir / CANCEL_FILE).exists()
        if cancelled:
            return BackendStatus(RunState.CANCELLED, "cancelled", exit_code)
        if exit_code == 0:
            return BackendStatus(RunState.FAILED, "runner exited 0 without a summary", 0)
        if exit_code is not None:
            return BackendStatus(
                RunState.FAILED, f"runner exited with {exit_code}; see the log", exit_code
            )
        return BackendStatus(RunState.FAILED, "runner process vanished (killed?) without a summary")

    def logs(self, handle: str, tail: int = 200) -> str:
        _pid, _start, run_dir = self._parse(handle)
        path = run_dir / LOG_FILE
        try:
            size = path.stat().st_size
            with path.open("rb") as fh:
                fh.seek(max(0, size - max(tail, 1) * 400))  # enough bytes for `tail` lines
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return tail_lines(text, tail)

    def sync(self, handle: str) -> None:
        """Nothing to fetch: the runner writes into the run directory on this host."""
        self._parse(handle)

    # -- cancel ---------------------------------------------------------------------------------
    def cancel(self, handle: str) -> None:
        """SIGTERM to the run's process group; SIGKILL to it after `grace_s` if still alive."""
        pid, start, run_dir = self._parse(handle)
        (run_dir / CANCEL_FILE).touch()
        if not self._alive(pid, start):
            return
        self._signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while time.monotonic() < deadline:
            if not self._alive(pid, start):
                return
            time.sleep(0.1)
        self._signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while self._alive(pid, start) and time.monotonic() < deadline:
            time.sleep(0.1)

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        # The wrapper was started with start_new_session: its pid is the group id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
