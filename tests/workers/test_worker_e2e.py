"""A real Celery worker process runs an import end to end, on the configured broker
(Redis when TRELLIS_TEST_BROKER_URL is set, else the embedded SQLite broker)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.db import make_engine, make_session_factory, session_scope
from app.imports.schemas import ImportOptions
from app.imports.uploads import start_import
from app.jobs import dispatch
from app.migrate import upgrade
from app.models import Example, Job, JobState, Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.factories import ROOT, SHARED_DATA

pytestmark = pytest.mark.worker


@pytest.fixture
def scratch_database(tmp_path: Path) -> Iterator[str]:
    """A database of its own: the worker is another process and must see committed rows."""
    base = os.environ.get("TRELLIS_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'worker.db'}"
        return
    name = f"trellis_worker_{uuid.uuid4().hex[:8]}"
    admin_engine = create_engine(
        make_url(base).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    with admin_engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()


def _broker_url(tmp_path: Path) -> str:
    return os.environ.get("TRELLIS_TEST_BROKER_URL") or f"sqla+sqlite:///{tmp_path / 'broker.db'}"


class CeleryTo:
    def __init__(self, broker: str) -> None:
        self.app = Celery("trellis-test", broker=broker)

    def send(self, job_id: int, queue: str = "short") -> None:
        self.app.send_task("trellis.run_job", args=[job_id], queue=queue)


def test_real_worker_runs_an_import(scratch_database: str, tmp_path: Path) -> None:
    broker = _broker_url(tmp_path)
    upgrade(scratch_database)
    env = {
        **os.environ,
        "TRELLIS_DATABASE_URL": scratch_database,
        "TRELLIS_BROKER_URL": broker,
        "TRELLIS_DATA_DIR": str(tmp_path / "data"),
        "TRELLIS_SECRET_KEY": "worker-test-secret",
        "TRELLIS_JOB_HEARTBEAT_S": "1",
    }
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--concurrency", "1", "--no-beat"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    engine = make_engine(scratch_database)
    factory = make_session_factory(engine)
    previous = dispatch.set_dispatcher(CeleryTo(broker))
    try:
        upload = tmp_path / "alpaca.json"
        upload.write_bytes((SHARED_DATA / "alpaca_5000.json").read_bytes())
        with session_scope(factory) as db:
            user = users.create_user(
                db, email="w@example.com", password="a long password", role=Role.engineer
            )
            project = projects.create(db, user, ProjectCreate(slug="w"))
            job = start_import(db, project, user, upload, "alpaca.json", ImportOptions())
            job_id, project_id = job.id, project.id
        # sent after that commit; now the worker process picks it up
        deadline = time.monotonic() + 120
        state = JobState.queued
        while time.monotonic() < deadline:
            with Session(engine) as db:
                found = db.get(Job, job_id)
                assert found is not None
                state = found.state
                if state.finished:
                    break
            time.sleep(0.5)
        with Session(engine) as db:
            done = db.get(Job, job_id)
            assert done is not None
            assert state is JobState.succeeded, (
                done.error,
                (tmp_path / "worker.log").read_text()[-3000:],
            )
            assert done.result is not None and done.result["examples"] == 5000
            assert done.attempts == 1 and done.heartbeat_at is not None
            count = db.query(Example).filter(Example.project_id == project_id).count()
            assert count == 5000
        assert not upload.exists(), "the worker removes the upload once imported"
    finally:
        dispatch.set_dispatcher(previous)
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        log.close()
        engine.dispose()


def _start_worker(env: dict[str, str], log_path: Path, *args: str) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "worker", "--concurrency", "1", *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _stop(worker: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(worker.pid, sig)
    except ProcessLookupError:
        return
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def _job(engine, job_id: int) -> Job:  # type: ignore[no-untyped-def]
    with Session(engine) as db:
        found = db.get(Job, job_id)
        assert found is not None
        db.expunge(found)
        return found


def test_job_of_a_killed_worker_is_requeued_and_finished(
    scratch_database: str, tmp_path: Path
) -> None:
    """kill -9 a worker mid-import: nothing half-imported stays, the reaper re-queues the job
    once its heartbeat is stale, and a new worker finishes it (attempt 2)."""
    broker = _broker_url(tmp_path)
    upgrade(scratch_database)
    env = {
        **os.environ,
        "TRELLIS_DATABASE_URL": scratch_database,
        "TRELLIS_BROKER_URL": broker,
        "TRELLIS_DATA_DIR": str(tmp_path / "data"),
        "TRELLIS_SECRET_KEY": "worker-test-secret",
        "TRELLIS_JOB_HEARTBEAT_S": "1",
        "TRELLIS_JOB_STALE_AFTER_S": "5",
        "TRELLIS_REAPER_INTERVAL_S": "1",
    }
    rows = json.loads((SHARED_DATA / "alpaca_5000.json").read_text())
    upload = tmp_path / "big.jsonl"
    with upload.open("w") as fh:  # 60,000 distinct rows: long enough to be caught mid-way
        for i in range(60_000):
            row = dict(rows[i % len(rows)])
            row["instruction"] = f"{row['instruction']} #{i}"
            fh.write(json.dumps(row) + "\n")
    engine = make_engine(scratch_database)
    factory = make_session_factory(engine)
    log_path = tmp_path / "workers.log"
    first = _start_worker(env, log_path, "--no-beat")
    second = None
    previous = dispatch.set_dispatcher(CeleryTo(broker))
    try:
        with session_scope(factory) as db:
            user = users.create_user(
                db, email="k@example.com", password="a long password", role=Role.engineer
            )
            project = projects.create(db, user, ProjectCreate(slug="k"))
            job_id = start_import(db, project, user, upload, "big.jsonl", ImportOptions()).id
            project_id = project.id
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _job(engine, job_id).progress <= 0.05:
            time.sleep(0.1)
        caught = _job(engine, job_id)
        assert caught.state is JobState.running and caught.attempts == 1, log_path.read_text()[
            -3000:
        ]
        _stop(first, signal.SIGKILL)
        with Session(engine) as db:
            assert db.query(Example).filter(Example.project_id == project_id).count() == 0

        second = _start_worker(env, log_path)  # with --beat: the reaper runs here
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not _job(engine, job_id).state.finished:
            time.sleep(0.5)
        done = _job(engine, job_id)
        assert done.state is JobState.succeeded, (done.error, log_path.read_text()[-3000:])
        assert done.attempts == 2
        assert done.result is not None and done.result["examples"] == 60_000
        with Session(engine) as db:
            assert db.query(Example).filter(Example.project_id == project_id).count() == 60_000
    finally:
        dispatch.set_dispatcher(previous)
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second)
        engine.dispose()
