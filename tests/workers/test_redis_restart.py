"""A Redis restart while jobs are queued: the messages are gone (this Redis keeps nothing on
disk), the jobs table is not. The reaper re-sends every queued job nobody picked up, and a
worker that starts re-sends them at once; every job ends succeeded, none twice."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.db import make_engine, make_session_factory, session_scope
from app.imports.schemas import ImportOptions
from app.imports.uploads import start_import
from app.jobs import dispatch
from app.migrate import upgrade
from app.models import Example, Job, JobState, Project, Role, User
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.factories import SHARED_DATA
from tests.workers.test_worker_e2e import CeleryTo, _start_worker, _stop

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """A Redis server of this test's own, on its own port, with nothing kept on disk."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = _free_port(), folder
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def _wait_all(engine, ids: list[int], seconds: float) -> list[Job]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        with Session(engine) as db:
            jobs = [db.get(Job, i) for i in ids]
            for job in jobs:
                assert job is not None
                db.expunge(job)
        if all(j.state.finished for j in jobs) or time.monotonic() > deadline:  # type: ignore[union-attr]
            return jobs  # type: ignore[return-value]
        time.sleep(0.5)


def test_no_job_is_lost_when_redis_restarts(redis_server: OwnRedis, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(database)
    env = {
        **os.environ,
        "TRELLIS_DATABASE_URL": database,
        "TRELLIS_BROKER_URL": redis_server.url,
        "TRELLIS_DATA_DIR": str(tmp_path / "data"),
        "TRELLIS_SECRET_KEY": "redis-restart-secret",
        "TRELLIS_JOB_HEARTBEAT_S": "1",
        "TRELLIS_JOB_STALE_AFTER_S": "5",
        "TRELLIS_REAPER_INTERVAL_S": "1",
    }
    rows = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())[:300]
    engine = make_engine(database)
    factory = make_session_factory(engine)
    log_path = tmp_path / "worker.log"
    worker = _start_worker(env, log_path)  # with --beat: the reaper runs in it
    previous = dispatch.set_dispatcher(CeleryTo(redis_server.url))

    with session_scope(factory) as db:
        user = users.create_user(db, email="r@example.com", password="a long password",
                                 role=Role.engineer)  # fmt: skip
        owner_id, project_id = user.id, projects.create(db, user, ProjectCreate(slug="r")).id

    def queue_imports(first: int, count: int) -> list[int]:
        ids = []
        with session_scope(factory) as db:
            owner, project = db.get(User, owner_id), db.get(Project, project_id)
            assert owner is not None and project is not None
            for n in range(first, first + count):
                upload = tmp_path / f"part{n}.jsonl"
                upload.write_text("".join(
                    json.dumps({**r, "instruction": f"{r['instruction']} [{n}]"}) + "\n"
                    for r in rows))  # fmt: skip
                ids.append(start_import(db, project, owner, upload, upload.name,
                                        ImportOptions()).id)  # fmt: skip
        return ids

    try:
        first = queue_imports(0, 1)
        assert [j.state for j in _wait_all(engine, first, 90)] == [JobState.succeeded]

        redis_server.stop()  # the broker is gone: these sends fail; the rows stay queued
        lost = queue_imports(1, 2)
        redis_server.start()  # a new, empty Redis on the same address
        done = _wait_all(engine, lost, 90)
        assert [j.state for j in done] == [JobState.succeeded] * 2, log_path.read_text()[-3000:]
        assert all(j.attempts == 1 for j in done)

        # No worker while Redis restarts; the next worker to start sends the queued job again at
        # once (here the reaper would wait a minute).
        _stop(worker)
        redis_server.stop()
        late = queue_imports(3, 1)
        redis_server.start()
        worker = _start_worker({**env, "TRELLIS_JOB_STALE_AFTER_S": "60"}, log_path)
        assert [j.state for j in _wait_all(engine, late, 45)] == [JobState.succeeded]
        with Session(engine) as db:
            assert db.query(Example).count() == 4 * len(rows)
    finally:
        dispatch.set_dispatcher(previous)
        _stop(worker)
        engine.dispose()
