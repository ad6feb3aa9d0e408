"""The soak test's machinery: `trellis serve` started as a user starts it, the CLI beside it, a
scratch PostgreSQL database when the suite runs on PostgreSQL, and an HTTP client that records
every request (latency by kind, status codes, transport errors)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app.models import Job
from tests.factories import ROOT

PASSWORD = "soak test password 0123"
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
# uvicorn closes idle connections after 5 s; the client drops its own well before, so that a
# request never goes out on a connection the server is closing at that moment.
_LIMITS = httpx.Limits(keepalive_expiry=2.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scratch_database() -> Iterator[tuple[str, str]]:
    """(database URL, broker URL) for the server: empty strings for the embedded default, else a
    fresh `trellis_soak_<pid>` database beside TRELLIS_TEST_DATABASE_URL and the test broker."""
    base = os.environ.get("TRELLIS_TEST_DATABASE_URL")
    if not base:
        yield "", ""
        return
    name = f"trellis_soak_{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    broker = os.environ.get("TRELLIS_TEST_BROKER_URL", "")
    if broker.startswith("redis"):
        import redis

        # A message another test's worker left would name a job id of *this* database.
        redis.Redis.from_url(broker).flushdb()
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False), broker
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Server:
    folder: Path
    database_url: str
    broker_url: str
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "serve.log"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.folder / 'trellis-data' / 'trellis.db'}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRELLIS_")}
        env["PYTHONPATH"] = str(ROOT)
        if self.database_url:
            env["TRELLIS_DATABASE_URL"] = self.database_url
        if self.broker_url:
            env["TRELLIS_BROKER_URL"] = self.broker_url
        return env

    def start(self) -> None:
        """`trellis serve --port P` in the folder; its workers inherit its stdout (the log)."""
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "app.cli", "serve", "--port", str(self.port)],
                cwd=self.folder, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError("server did not start: " + self.log()[-3000:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def cli(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *args], input=stdin, capture_output=True,
            text=True, cwd=self.folder, env=self.env(), timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def job_states(self) -> Counter[str]:
        """Every job's state, read from the database (chunk jobs have no API listing)."""
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(select(Job.state, func.count()).group_by(Job.state)).all()
        finally:
            engine.dispose()
        return Counter({str(getattr(state, "value", state)): int(n) for state, n in rows})

    def job_failures(self) -> list[tuple[int, str, str, str | None]]:
        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    select(Job.id, Job.kind, Job.state, Job.error).where(
                        Job.state.not_in(["succeeded"])
                    )
                ).all()
        finally:
            engine.dispose()
        return [(r.id, r.kind, str(getattr(r.state, "value", r.state)), r.error) for r in rows]

    def diagnosis(self) -> str:
        """What a failed drain needs to tell a hang from slowness: each unfinished job's
        progress, message and times, every server process' CPU seconds and state, and the
        server log's tail."""
        import psutil

        engine = create_engine(self.db_url)
        try:
            with engine.connect() as conn:
                jobs = conn.execute(
                    select(Job.id, Job.kind, Job.state, Job.progress, Job.message,
                           Job.started_at, Job.heartbeat_at, Job.attempts)
                    .where(Job.state.not_in(["succeeded"]))
                ).all()  # fmt: skip
        finally:
            engine.dispose()
        lines = [f"now {datetime.now(UTC).isoformat()}"]
        lines += [f"job {tuple(j)}" for j in jobs]
        if self.proc is not None and self.proc.poll() is None:
            root = psutil.Process(self.proc.pid)
            for proc in [root, *root.children(recursive=True)]:
                try:
                    cpu = proc.cpu_times()
                    lines.append(
                        f"pid {proc.pid} {proc.status()} cpu {cpu.user + cpu.system:.1f} s "
                        f"threads {proc.num_threads()}: {' '.join(proc.cmdline())[:160]}"
                    )
                except psutil.Error:
                    continue
        lines.append(f"load average {os.getloadavg()}")
        return "\n".join(lines) + "\n--- server log tail ---\n" + self.log()[-6000:]


@dataclass
class Recorder:
    """Every request of the soak: latency by kind, status codes, 5xx bodies, transport errors."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values()) + len(self.transport_errors)

    @property
    def count_5xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    async def call(
        self, client: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            self.transport_errors.append(f"{method} {url}: {type(exc).__name__} {exc}")
            return None
        self.latencies[kind].append(time.perf_counter() - started)
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{method} {url}: {response.status_code} {response.text}")
        return response


def percentile_ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k] * 1000


def client(base: str, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base, timeout=60, follow_redirects=False, limits=_LIMITS, headers=headers
    )


async def login(http: httpx.AsyncClient, email: str) -> None:
    """Log in through the form, as the browser does; the CSRF token goes on every later post."""
    page = await http.get("/login")
    token = _CSRF.search(page.text)
    assert token, "the login page carries a CSRF token"
    response = await http.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code in (200, 303), response.text[:300]
    found = _CSRF.search((await http.get("/projects")).text)
    assert found, f"{email} is not logged in"
    http.headers["X-CSRF-Token"] = found.group(1)
