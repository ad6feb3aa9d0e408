"""Test fixtures.

Database: PostgreSQL when TRELLIS_TEST_DATABASE_URL is set, else a SQLite file. The schema is
built once per run with the real Alembic migrations; each test runs inside a transaction that is
rolled back at the end (commits inside the app become savepoint releases).

Jobs: the dispatcher records job ids instead of talking to a broker; `run_jobs()` runs them
inline through the real runner. Tests marked `worker` start a real Celery worker instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from app import job_handlers  # noqa: F401 - registers every job kind, as the worker does
from app.auth import passwords
from app.config import Settings, get_settings
from app.contamination import service as contamination
from app.db import make_engine
from app.jobs import dispatch
from app.jobs.runner import run_job
from app.main import create_app
from app.migrate import upgrade
from app.models import Project, Role, User
from app.projects import service as projects
from app.projects.schemas import ProjectCreate
from tests.factories import CHEAP_HASHER, RecordingDispatcher, make_user, memo_encoder


def test_database_url(tmp_dir: Path) -> str:
    return os.environ.get("TRELLIS_TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.db'}"


@pytest.fixture(scope="session", autouse=True)
def cheap_passwords() -> Iterator[None]:
    """Every password in the suite is hashed at argon2's lowest cost (see tests/factories.py)."""
    previous = passwords.set_hasher(CHEAP_HASHER)
    yield
    passwords.set_hasher(previous)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = test_database_url(tmp_path_factory.mktemp("db"))
    eng = make_engine(url)
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            from sqlalchemy import text

            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        upgrade(connection=conn)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        trans.rollback()
        conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    session = session_factory()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def dispatcher() -> Iterator[RecordingDispatcher]:
    recorder = RecordingDispatcher()
    previous = dispatch.set_dispatcher(recorder)
    yield recorder
    dispatch.set_dispatcher(previous)


@pytest.fixture
def run_jobs(
    dispatcher: RecordingDispatcher, session_factory: sessionmaker[Session]
) -> Callable[[], list[int]]:
    """Run every job sent so far, inline, through the real runner; returns their ids."""

    def run() -> list[int]:
        ran = []
        while dispatcher.sent:
            job_id = dispatcher.sent.pop(0)
            run_job(job_id, session_factory, heartbeat_s=3600)
            ran.append(job_id)
        return ran

    return run


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The app's settings, also installed as the process settings that job handlers read."""
    monkeypatch.setenv("TRELLIS_DATA_DIR", str(tmp_path / "trellis-data"))
    monkeypatch.setenv("TRELLIS_SECRET_KEY", "test-secret-key-not-for-production")
    monkeypatch.setenv("TRELLIS_UPLOAD_MAX_BYTES", str(50 * 1024 * 1024))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def app(
    settings: Settings, session_factory: sessionmaker[Session], dispatcher: RecordingDispatcher
):  # type: ignore[no-untyped-def]
    return create_app(settings, session_factory)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def admin(db: Session) -> User:
    return make_user(db, "admin@example.com", Role.admin)


@pytest.fixture
def engineer(db: Session) -> User:
    return make_user(db, "eng@example.com", Role.engineer)


@pytest.fixture
def annotator(db: Session) -> User:
    return make_user(db, "ann@example.com", Role.annotator)


@pytest.fixture
def project(db: Session, engineer: User) -> Project:
    p = projects.create(db, engineer, ProjectCreate(slug="demo", name="Demo"))
    db.commit()
    return p


@pytest.fixture
def quick_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real embedding model, memoised for the test session: only the first test that sees a
    text pays for encoding it. The contamination and diversity tests use it throughout."""
    memo = memo_encoder(contamination.get_text_encoder)
    monkeypatch.setattr(contamination, "get_text_encoder", lambda: memo)


# Test modules that are the same under either database: pure scoring, statistics, readers, the
# training runner and its backends, and the CLI runs that are embedded whatever the pass. CI's
# PostgreSQL pass runs `-m "not pure"`. A module listed here that asks for a database fixture
# fails at collection, so the list cannot hide a database test from that pass.
PURE_MODULES = {
    # These start the CLI or `trellis serve` with every TRELLIS_ variable removed: they run
    # embedded (SQLite + embedded broker of their own) in both passes, so once is enough.
    "tests/cli/test_cli.py",
    "tests/cli/test_serve_embedded.py",
    "tests/feedback/test_cli.py",
    "tests/training/test_cli.py",
    "tests/workers/test_job_threads.py",
    # The rest touch no database or broker at all.
    "tests/eval_runs/test_items_report.py",
    "tests/evaluation/test_code_exec.py",
    "tests/evaluation/test_end_to_end.py",
    "tests/evaluation/test_harness.py",
    "tests/evaluation/test_http_and_judge.py",
    "tests/evaluation/test_scorers.py",
    "tests/evaluation/test_scoring.py",
    "tests/evaluation/test_stats_gates.py",
    "tests/feedback/test_pairing.py",
    "tests/feedback/test_records.py",
    "tests/formats/test_pairs.py",
    "tests/formats/test_pipeline.py",
    "tests/formats/test_readers.py",
    "tests/formats/test_records.py",
    "tests/formats/test_shapes.py",
    "tests/synthetic/test_cli.py",
    "tests/synthetic/test_generators.py",
    "tests/synthetic/test_llm_client.py",
    "tests/synthetic/test_tiny_model.py",
    "tests/training/test_backends_local.py",
    "tests/training/test_backends_local_runner.py",
    "tests/training/test_backends_manual.py",
    "tests/training/test_backends_ray.py",
    "tests/training/test_config.py",
    "tests/training/test_distributed.py",
    "tests/training/test_memory.py",
    "tests/training/test_runner.py",
}
DATABASE_FIXTURES = frozenset(
    {"engine", "connection", "session_factory", "db", "app", "client", "settings", "run_jobs",
     "test_database_url", "admin", "engineer", "annotator", "project"}
)  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).resolve().parent.parent
    for item in items:
        module = Path(str(item.path)).resolve().relative_to(root).as_posix()
        if module not in PURE_MODULES:
            continue
        used = DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if used:
            raise pytest.UsageError(
                f"{item.nodeid} is in PURE_MODULES but uses {sorted(used)}: remove its module "
                "from the list, or CI's PostgreSQL pass would skip a database test"
            )
        item.add_marker(pytest.mark.pure)
