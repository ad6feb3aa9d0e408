"""`trellis serve` with no configuration: SQLite, the embedded broker and a real worker process
beside the web server, end to end over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import ROOT, SHARED_DATA

pytestmark = pytest.mark.worker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_embedded_serve_imports_through_its_own_worker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["PYTHONPATH"] = str(ROOT)
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("server did not start: " + (tmp_path / "serve.log").read_text()[-2000:])
        assert "trellis user create" in (tmp_path / "serve.log").read_text()
        assert (tmp_path / "trellis-data" / "trellis.db").exists()

        def cli(*args: str, stdin: str = "") -> str:
            done = subprocess.run(
                [sys.executable, "-m", "app.cli", *args], input=stdin, capture_output=True,
                text=True, cwd=tmp_path, env=env, timeout=60, check=True,
            )  # fmt: skip
            return done.stdout

        cli(
            "user",
            "create",
            "--email",
            "e@example.com",
            "--role",
            "engineer",
            stdin="engineer password\n",
        )
        cli("project", "create", "demo", "--owner", "e@example.com")
        headers = {
            "Authorization": "Bearer " + cli("token", "create", "--email", "e@example.com").strip()
        }
        with (SHARED_DATA / "alpaca_5000.json").open("rb") as fh:
            job = httpx.post(f"{base}/api/projects/demo/imports", headers=headers,
                             files={"file": ("alpaca.json", fh)}, timeout=60).json()  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            job = httpx.get(f"{base}/api/jobs/{job['id']}", headers=headers, timeout=5).json()
            if job["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
        assert job["state"] == "succeeded", (job, (tmp_path / "serve.log").read_text()[-3000:])
        assert job["result"]["examples"] == 5000
        stats = httpx.get(f"{base}/api/projects/demo/stats", headers=headers).json()
        assert stats["examples"]["total"]["all"] == 5000
    finally:
        # The whole group, as Ctrl+C in a terminal signals it: the worker must still stop.
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()
    assert server.returncode is not None
    assert _processes_in(tmp_path) == [], "the worker outlived the server"


def _processes_in(folder: Path) -> list[int]:
    """Processes still running with `folder` as their working directory."""
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == folder:
                    left.append(int(entry.name))
            except OSError:
                continue
    return left


def _start(folder: Path, port: int, log_name: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env["PYTHONPATH"] = str(ROOT)
    log = (folder / log_name).open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    pytest.fail("server did not start: " + log.read_text()[-2000:])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_die_with_a_killed_server_and_one_server_per_data_folder(tmp_path: Path) -> None:
    port = _free_port()
    first = _start(tmp_path, port, "first.log")
    others: list[subprocess.Popen[bytes]] = []
    try:
        _wait_healthy(port, first, tmp_path / "first.log")
        pids_file = tmp_path / "trellis-data" / "workers.pids"
        deadline = time.monotonic() + 10
        while not pids_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p) for p in json.loads(pids_file.read_text())]
        assert len(workers) == 2 and all(_alive(p) for p in workers)

        # A second server on the same data folder is refused, naming the first.
        second = _start(tmp_path, _free_port(), "second.log")
        others.append(second)
        assert second.wait(timeout=60) != 0
        assert f"pid {first.pid}" in (tmp_path / "second.log").read_text()

        # kill -9 of the server alone: its workers notice and stop by themselves.
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.5)
        assert not any(_alive(p) for p in workers), "workers outlived their killed server"

        # The next start finds the lock free and no workers of the old server to stop.
        third = _start(tmp_path, port, "third.log")
        others.append(third)
        _wait_healthy(port, third, tmp_path / "third.log")
    finally:
        for proc in [first, *others]:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=45)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
    assert _processes_in(tmp_path) == [], "a worker outlived the server"


def test_a_start_stops_the_workers_an_earlier_killed_server_left(tmp_path: Path) -> None:
    from app.cli.builtin_workers import BuiltInWorkers
    from app.config import Settings

    # A worker process as a killed server leaves it: its pid in the data folder, still running.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env |= {"PYTHONPATH": str(ROOT), "TRELLIS_DATA_DIR": str(tmp_path / "trellis-data")}
    (tmp_path / "trellis-data").mkdir()
    orphan = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker", "--pool", "solo",
         "--queues", "short", "--hostname", f"orphan-{os.getpid()}@%h"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(2)
        assert orphan.poll() is None
        settings = Settings(data_dir=tmp_path / "trellis-data")
        (settings.data_dir / "workers.pids").write_text(json.dumps([orphan.pid, 999_999_999]))
        assert BuiltInWorkers(settings).stop_leftovers() == [orphan.pid]
        assert orphan.wait(timeout=5) is not None
        assert not (settings.data_dir / "workers.pids").exists()
    finally:
        if orphan.poll() is None:
            os.killpg(orphan.pid, signal.SIGKILL)
            orphan.wait()
