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
def ray_head(num_cpus: int = 1, start_timeout: float = 90.0) -> Iterator[RayHead]:
    temp_dir = Path(tempfile.mkdtemp(prefix="trh-", dir="/tmp"))  # short: unix socket paths
    ports = {name: _free_port() for name in (
        "port", "dashboard-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
        "runtime-env-agent-port", "metrics-export-port", "node-manager-port",
        "object-manager-port", "ray-client-server-port",
    )}  # fmt: skip
    worker_low = _free_port()
    command = [
        str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
        "--num-cpus", str(num_cpus), "--num-gpus", "0", "--include-dashboard", "true",
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
    log = (temp_dir / "ray-start.log").open("wb")
    proc = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    address = f"http://127.0.0.1:{ports['dashboard-port']}"
    try:
        _wait_for_job_server(address, proc, start_timeout, temp_dir)
        yield RayHead(address=address, pid=proc.pid, temp_dir=temp_dir)
    finally:
        _stop(proc)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


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
    """SIGTERM to the `ray start --block` we started; then SIGKILL to its session's group."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    # Wait without reaping: while the leader is unreaped its pid (our group id) is not reused.
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            break
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # anything of ours left in the group we created
    proc.wait(timeout=10)
