"""A throwaway Ray head on 127.0.0.1 for the tests: every port free-picked, its own temp dir.

Started with `ray start --head --block` in a new session, so the one process we start owns all
of Ray's; it is stopped by that pid (SIGTERM makes `ray start --block` stop its children), never
with `ray stop`, which would stop other people's clusters on this machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class RayHead:
    address: str  # the job server (dashboard) URL
    pid: int
    temp_dir: Path


@contextmanager
def ray_head(
    num_cpus: int = 1, num_gpus: int = 0, start_timeout: float = 90.0, attempts: int = 3
) -> Iterator[RayHead]:
    """A running head; a start that fails (a free-picked port taken meanwhile) is retried."""
    errors: list[str] = []
    for _ in range(attempts):
        temp_dir = Path(tempfile.mkdtemp(prefix="trh-", dir="/tmp"))  # short: unix socket paths
        proc, address = _start(num_cpus, num_gpus, temp_dir)
        try:
            _wait_for_job_server(address, proc, start_timeout, temp_dir)
        except RuntimeError as exc:
            errors.append(str(exc))
            _stop(proc)
            shutil.rmtree(temp_dir, ignore_errors=True)
            continue
        try:
            yield RayHead(address=address, pid=proc.pid, temp_dir=temp_dir)
        finally:
            _stop(proc)
            shutil.rmtree(temp_dir, ignore_errors=True)
        return
    raise RuntimeError("could not start a Ray head:\n" + "\n---\n".join(errors))


def _start(num_cpus: int, num_gpus: int, temp_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    ports = {name: _free_port() for name in (
        "port", "dashboard-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
        "runtime-env-agent-port", "metrics-export-port", "node-manager-port",
        "object-manager-port", "ray-client-server-port",
    )}  # fmt: skip
    worker_low = _free_port()
    command = [
        str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
        "--num-cpus", str(num_cpus), "--num-gpus", str(num_gpus), "--include-dashboard", "true",
        "--dashboard-host", "127.0.0.1", "--temp-dir", str(temp_dir), "--disable-usage-stats",
        "--object-store-memory", str(100 * 2**20),
        "--min-worker-port", str(worker_low), "--max-worker-port", str(worker_low + 200),
        *(arg for name, port in ports.items() for arg in (f"--{name}", str(port))),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # jobs' `python` is this one
        "RAY_USAGE_STATS_ENABLED": "0",
        "OMP_NUM_THREADS": "1",
    }
    env.pop("RAY_ADDRESS", None)
    with (temp_dir / "ray-start.log").open("wb") as log:
        proc = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{ports['dashboard-port']}"


def _wait_for_job_server(
    address: str, proc: subprocess.Popen[bytes], timeout: float, temp_dir: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (temp_dir / "ray-start.log").read_text(errors="replace")
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{log[-3000:]}")
        with suppress(OSError), urllib.request.urlopen(f"{address}/api/version", timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"Ray job server at {address} not up after {timeout}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the `ray start --block` we started, then SIGKILL to what is left of its group.

    The group is the session `ray start` got (start_new_session), so its members are Ray's
    processes that we started; they are picked by group id and start time, not by name.
    """
    started = psutil.Process().create_time()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=30)
    for member in _group_members(proc.pid, started):
        with suppress(psutil.NoSuchProcess):
            member.kill()
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


def _group_members(pgid: int, since: float) -> list[psutil.Process]:
    members = []
    for candidate in psutil.process_iter():
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            if os.getpgid(candidate.pid) == pgid and candidate.create_time() >= since:
                members.append(candidate)
    return members
