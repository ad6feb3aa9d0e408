"""`trellis serve` with no configuration: SQLite, the embedded broker and a real worker process
beside the web server, end to end over HTTP."""

from __future__ import annotations

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
