"""SQLite with a web server and workers beside it: an export job finishes while other
connections commit all the time (the heartbeat, progress, users' requests). Before, every web
export failed with "database is locked": the job read for seconds, then tried to write from a
read snapshot that other commits had made stale, which SQLite refuses at once."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.db import make_engine, make_session_factory, session_scope
from app.exports import service as exports
from app.exports.schemas import ExportCreate
from app.imports.schemas import ImportOptions
from app.imports.service import import_file
from app.jobs import service as jobs
from app.jobs.runner import run_job
from app.migrate import upgrade
from app.models import ExportSnapshot, ItemStatus, JobState, Project, Role
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from app.users import service as users
from tests.factories import SHARED_DATA, RecordingDispatcher

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TRELLIS_TEST_DATABASE_URL")), reason="SQLite's own locking"
)


@pytest.fixture
def sqlite_factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'trellis.db'}"
    upgrade(url)
    engine: Engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


class BusyWriter(threading.Thread):
    """Another connection that commits a small write every few milliseconds, as the web server
    and the job's own heartbeat do."""

    def __init__(self, factory: sessionmaker[Session], project_id: int) -> None:
        super().__init__(daemon=True)
        self.factory, self.project_id = factory, project_id
        self.stop = threading.Event()
        self.commits = 0

    def run(self) -> None:
        while not self.stop.wait(0.005):
            with session_scope(self.factory, write=True) as db:
                db.execute(update(Project).where(Project.id == self.project_id)
                           .values(description=f"touched {self.commits}"))  # fmt: skip
            self.commits += 1


def _seed(factory: sessionmaker[Session], tmp_path: Path) -> tuple[int, int]:
    with session_scope(factory) as db:
        user = users.create_user(db, email="e@example.com", password="pw-long-enough",
                                 role=Role.engineer)  # fmt: skip
        project = projects.create(db, user, ProjectCreate(slug="busy"))
        import_file(
            db, project_id=project.id, path=SHARED_DATA / "alpaca_5000.json", user_id=user.id,
            options=ImportOptions(status=ItemStatus.approved), rejects_path=tmp_path / "r.jsonl",
        )  # fmt: skip
        return user.id, project.id


def test_export_job_finishes_while_other_connections_commit(
    sqlite_factory: sessionmaker[Session], tmp_path: Path, dispatcher: RecordingDispatcher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TRELLIS_DATA_DIR", str(tmp_path / "data"))
    from app.config import get_settings

    get_settings.cache_clear()
    user_id, project_id = _seed(sqlite_factory, tmp_path)
    writer = BusyWriter(sqlite_factory, project_id)

    # The control: the old shape (read, then write, in one transaction) does fail here.
    with session_scope(sqlite_factory) as db:
        project = db.get(Project, project_id)
        assert project is not None
        control = exports.new_snapshot(db, project, user_id, ExportCreate(format="messages")).id
    writer.start()
    try:
        with pytest.raises(OperationalError, match="locked"), session_scope(sqlite_factory) as db:
            exports.run(db, control, tmp_path / "control")

        with session_scope(sqlite_factory, write=True) as db:  # as a web request would
            project = db.get(Project, project_id)
            assert project is not None
            snapshot = exports.new_snapshot(db, project, user_id, ExportCreate(format="messages"))
            job = jobs.create(db, kind=exports.EXPORT_JOB, params={"snapshot_id": snapshot.id},
                              project_id=project_id, user_id=user_id)  # fmt: skip
            snapshot.job_id = job.id
            snapshot_id, job_id = snapshot.id, job.id
        state = run_job(job_id, sqlite_factory, heartbeat_s=0.02)
    finally:
        writer.stop.set()
        writer.join()
        get_settings.cache_clear()
    assert writer.commits > 5, "the other connection kept committing"
    assert state is JobState.succeeded
    with session_scope(sqlite_factory) as db:
        stored = db.get(ExportSnapshot, snapshot_id)
        assert stored is not None and stored.state == "ready", stored.error if stored else None
        assert stored.manifest is not None
        assert stored.manifest["files"]["sft_train.jsonl"]["rows"] == 4998


def test_a_write_request_lets_go_of_the_lock_before_storing_an_upload(
    sqlite_factory: sessionmaker[Session],
) -> None:
    from app.db import SQLITE_BEGIN
    from app.web.deps import release_before_slow_work

    request_db = sqlite_factory()
    request_db.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})  # as a POST does
    request_db.execute(select(Project.id)).all()  # the policy's lookups
    path = sqlite_factory.kw["bind"].url.database
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)  # another writer
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("BEGIN IMMEDIATE")
    release_before_slow_work(request_db)  # now the upload is copied; others may write
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE projects SET description = 'written meanwhile'")
    other.execute("COMMIT")
    other.close()
    request_db.execute(select(Project.id)).all()  # the request goes on in a new transaction
    assert request_db.in_transaction()
    request_db.close()
