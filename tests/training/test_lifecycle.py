"""A run's life in the workers: cancel stops a real run within 10 s, and a Celery worker killed
with SIGKILL mid-run loses nothing: a second worker re-attaches by the stored handle and
finishes the record."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory, session_scope
from app.jobs import dispatch
from app.migrate import upgrade
from app.models import Project, Role, TrainingRun, User
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.training_runs import lifecycle, service
from app.users import service as users
from tests.factories import bearer
from tests.training.web_fixtures import RUNNER_ENV, request, snapshot_of, wait_until
from tests.workers.test_worker_e2e import CeleryTo, _broker_url, _start_worker, _stop

API = "/api/projects/demo/training"


@pytest.mark.usefixtures("runner_env")
def test_cancel_stops_a_real_run_within_ten_seconds(
    client: TestClient, db: Session, project: Project, engineer: User, settings: Settings,
    tmp_path: Path, tiny_model: Path, run_jobs, session_factory: sessionmaker[Session],  # type: ignore[no-untyped-def]
) -> None:  # fmt: skip
    snapshot = snapshot_of(db, project, tmp_path, settings.export_dir)
    eng = bearer(client, db, engineer)
    body = request(snapshot.id, tiny_model, max_steps=100_000, epochs=1000).model_dump()
    run_id = client.post(f"{API}/runs", json=body, headers=eng).json()["id"]
    run_jobs()

    def training() -> bool:
        lifecycle.poll_run(run_id, session_factory)
        found = client.get(f"{API}/runs/{run_id}", headers=eng).json()
        return bool(found["last_metrics"] and found["last_metrics"].get("loss") is not None)

    assert wait_until(training, 180, 0.5)
    started = time.monotonic()
    answer = client.post(f"{API}/runs/{run_id}/cancel", headers=eng)
    assert answer.status_code == 202 and answer.json()["cancel_requested"]
    assert lifecycle.poll_run(run_id, session_factory) == "cancelled"
    assert time.monotonic() - started < 10
    found = client.get(f"{API}/runs/{run_id}", headers=eng).json()
    assert found["summary"]["state"] == "cancelled" and found["finished_at"]


@pytest.mark.worker
def test_a_killed_worker_loses_nothing(tmp_path: Path, tiny_model: Path) -> None:
    url = f"sqlite:///{tmp_path / 'train.db'}"
    upgrade(url)
    broker = _broker_url(tmp_path)
    data_dir = tmp_path / "data"
    env = {**os.environ, **RUNNER_ENV, "TRELLIS_DATABASE_URL": url, "TRELLIS_BROKER_URL": broker,
           "TRELLIS_DATA_DIR": str(data_dir), "TRELLIS_SECRET_KEY": "training-test-secret",
           "TRELLIS_JOB_HEARTBEAT_S": "1", "TRELLIS_TRAINING_POLL_S": "1"}  # fmt: skip
    engine = make_engine(url)
    factory = make_session_factory(engine)
    previous = dispatch.set_dispatcher(CeleryTo(broker))
    log = tmp_path / "worker.log"
    first = _start_worker(env, log)
    second = None
    try:
        with session_scope(factory) as db:
            user = users.create_user(db, email="t@example.com", password="a long password",
                                     role=Role.engineer)  # fmt: skip
            project = projects.create(db, user, ProjectCreate(slug="demo"))
        with session_scope(factory) as db:
            project = projects.get(db, "demo")
            snapshot = snapshot_of(db, project, tmp_path, data_dir / "exports")
            run = service.create(db, project, None,
                                 request(snapshot.id, tiny_model, max_steps=400),
                                 data_dir=data_dir, export_root=data_dir / "exports")  # fmt: skip
            run_id = run.id

        def row() -> TrainingRun:
            with Session(engine) as db:
                found = db.get(TrainingRun, run_id)
                assert found is not None
                db.expunge(found)
                return found

        # the first worker submits and its beat polls: metrics arrive
        assert wait_until(lambda: row().metrics_count > 2, 240, 0.5), log.read_text()[-3000:]
        handle = row().handle
        assert handle is not None and row().state == "running"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        count = row().metrics_count
        second = _start_worker(env, log)
        assert wait_until(lambda: row().state in ("succeeded", "failed"), 240, 0.5), (
            row().state, log.read_text()[-3000:])  # fmt: skip
        done = row()
        assert done.state == "succeeded", (done.error, done.log_tail)
        assert done.handle == handle and done.metrics_count > count
        assert done.adapter_path and Path(done.adapter_path, "adapter_config.json").is_file()
        with Session(engine) as db:
            steps = [m.step for m in service.metrics(db, done) if m.event == "train"]
        assert steps == list(range(1, 401))  # every line once, across both workers
    finally:
        dispatch.set_dispatcher(previous)
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second)
        engine.dispose()
