"""PostgreSQL stopped hard (`pg_ctl stop -m immediate`, as a crash or an OOM kill would) during
a burst of writes and an import, then started again, on a cluster this test creates itself
(initdb into a temp dir, its own port; the machine's own cluster is never touched).

Holds: every write the server acknowledged is there afterwards; while the database is down the
server answers 503 quickly (no hang, no 500); it recovers by itself; the import finishes (the
reaper re-queues it once its heartbeat is stale) with every row exactly once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import ROOT, SHARED_DATA

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        not os.environ.get("TRELLIS_TEST_DATABASE_URL"),
        reason="a PostgreSQL test: runs in the suite's PostgreSQL pass",
    ),
    pytest.mark.skipif(
        shutil.which("initdb") is None or shutil.which("runuser") is None or os.geteuid() != 0,
        reason="needs PostgreSQL's initdb and root (initdb runs as the postgres user)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnPostgres:
    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, _free_port()
        self.data, self.sockets = folder / "pgdata", folder / "sockets"

    def _as_postgres(self, *argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       capture_output=True, timeout=120)  # fmt: skip

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir()
        shutil.chown(self.folder, "postgres")
        shutil.chown(self.sockets, "postgres")
        self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")
        self.start()

    def start(self) -> None:
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.sockets}")  # fmt: skip
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", opts, "-l",
                          str(self.folder / "postgres.log"), "-w", "start")  # fmt: skip

    def crash(self) -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def stop(self) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", "pg_ctl", "-D", str(self.data),
                        "-m", "fast", "stop"], capture_output=True, timeout=60)  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnPostgres]:
    folder = Path("/tmp") / f"trellis-fault-{os.getpid()}-{_free_port()}"
    server = OwnPostgres(folder)
    server.init()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _wait(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def _ok(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_acknowledged_writes_survive_a_database_crash(
    postgres: OwnPostgres, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "TRELLIS_DATABASE_URL": postgres.url,
        "TRELLIS_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}",
        "TRELLIS_DATA_DIR": str(tmp_path / "data"),
        "TRELLIS_SECRET_KEY": "fault-test-secret",
        "TRELLIS_JOB_HEARTBEAT_S": "1",
        "TRELLIS_JOB_STALE_AFTER_S": "5",
        "TRELLIS_REAPER_INTERVAL_S": "1",
    }

    def cli(*args: str, stdin: str = "") -> str:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], input=stdin,
                              capture_output=True, text=True, cwd=tmp_path, env=env,
                              timeout=120, check=True).stdout  # fmt: skip

    cli("db", "upgrade")
    cli(
        "user", "create", "--email", "f@example.com", "--role", "engineer", stdin="pw long enough\n"
    )
    cli("project", "create", "fault", "--owner", "f@example.com")
    headers = {
        "Authorization": "Bearer " + cli("token", "create", "--email", "f@example.com").strip()
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    procs = [
        subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                          "--no-worker"], cwd=tmp_path, env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "1"],
                         cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True),
    ]  # fmt: skip
    client = httpx.Client(base_url=base, headers=headers, timeout=30)
    try:
        _wait(lambda: _ok(base), 60, "the server")
        rows = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())

        def upload(name: str, data: list[dict[str, str]]) -> int:
            body = "".join(json.dumps(r) + "\n" for r in data).encode()
            answer = client.post("/api/projects/fault/imports", files={"file": (name, body)})
            assert answer.status_code == 202, answer.text
            return int(answer.json()["id"])

        def job(job_id: int) -> dict:  # type: ignore[type-arg]
            return client.get(f"/api/jobs/{job_id}").json()  # type: ignore[no-any-return]

        first = upload("small.jsonl", rows[:300])
        _wait(lambda: job(first)["state"] == "succeeded", 60, "the first import")
        examples = client.get("/api/projects/fault/examples", params={"limit": 300}).json()
        targets = [(e["id"], e["version"]) for e in examples["items"]]
        big_rows = [{**r, "instruction": f"{r['instruction']} #{i}"}
                    for i, r in enumerate(rows * 6)]  # fmt: skip

        acknowledged: list[tuple[int, str]] = []
        statuses: list[tuple[int, float]] = []
        stop = threading.Event()

        def burst() -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
                for n, (item_id, version) in enumerate(targets):
                    if stop.is_set():
                        return
                    tag = f"burst-{n}"
                    started = time.monotonic()
                    try:
                        r = c.patch(f"/api/projects/fault/examples/{item_id}",
                                    json={"version": version, "tags": [tag]})  # fmt: skip
                    except httpx.HTTPError:
                        statuses.append((-1, time.monotonic() - started))
                        continue
                    statuses.append((r.status_code, time.monotonic() - started))
                    if r.status_code == 200:
                        acknowledged.append((item_id, tag))
                    time.sleep(0.02)

        big = upload("big.jsonl", big_rows)
        _wait(lambda: job(big)["state"] == "running", 60, "the big import to start")
        writer = threading.Thread(target=burst)
        writer.start()
        time.sleep(1.0)
        postgres.crash()
        time.sleep(3.0)
        down = [s for s in statuses if s[0] != 200]
        postgres.start()
        writer.join(timeout=120)
        stop.set()

        assert any(code == 503 for code, _ in down), statuses
        assert all(code in (200, 503) for code, _ in statuses), sorted({c for c, _ in statuses})
        assert max(seconds for _, seconds in statuses) < 15, "a request hung"
        _wait(lambda: _ok(base), 30, "the server to recover by itself")
        _wait(lambda: job(big)["state"] in ("succeeded", "failed"), 180, "the big import")
        outcome = job(big)
        if outcome["state"] == "failed":  # a clean failure: retrying imports it once
            assert "Traceback" not in (outcome["error"] or "")
            big = upload("big.jsonl", big_rows)
            _wait(lambda: job(big)["state"] == "succeeded", 180, "the retried import")
        stats = client.get("/api/projects/fault/stats").json()
        assert stats["examples"]["total"]["all"] == 300 + len(big_rows)
        lost = []
        for item_id, tag in acknowledged:
            item = client.get(f"/api/projects/fault/examples/{item_id}").json()
            if tag not in item["tags"]:
                lost.append((item_id, tag))
        print(
            f"fault test: {len(acknowledged)} writes acknowledged, {len(lost)} lost; "
            f"{sum(1 for c, _ in statuses if c == 503)} answered 503 while down (slowest "
            f"{max(t for _, t in statuses):.2f} s); import {outcome['state']} at attempt "
            f"{outcome['attempts']}"
        )
        assert acknowledged and not lost, f"{len(lost)} of {len(acknowledged)} writes lost"
    finally:
        client.close()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        log.close()
