"""Engine and session factory, and the after-commit hooks that make "enqueue after commit" work.

Only the boundaries commit: the request dependency (once, before the response is sent), a worker
task, or a CLI command. Services and repositories never do.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.config import get_settings

log = logging.getLogger(__name__)
T = TypeVar("T")

AFTER_COMMIT_KEY = "trellis_after_commit"
SQLITE_BEGIN = "trellis_sqlite_begin"
"""Execution option: "IMMEDIATE" makes a SQLite transaction take the write lock when it begins."""


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _json_dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:  # e.g. a lone surrogate: json escapes what orjson refuses
        return json.dumps(value)


def make_engine(url: str, **kwargs: Any) -> Engine:
    # orjson for JSON columns: decoding stored conversations dominated export time.
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            from pathlib import Path

            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # Connections are opened as requests need them and then kept: a pool smaller than the
    # request threadpool (40) made busy servers open and close a connection per request.
    kwargs.setdefault("pool_size", get_settings().db_pool_size)
    kwargs.setdefault("max_overflow", 10)
    # A database that is down answers a connect at once (refused); one that is unreachable
    # must not hang a request thread for minutes either.
    connect_args = {"connect_timeout": 5, **kwargs.pop("connect_args", {})}
    kwargs.setdefault("pool_timeout", 10)
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the web server read while the worker writes; foreign keys are off by default.
        dbapi_conn.isolation_level = None  # SQLAlchemy issues BEGIN itself (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    return make_engine(get_settings().effective_database_url)


def make_session_factory(bind: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


@lru_cache(maxsize=1)
def get_session_factory() -> sessionmaker[Session]:
    return make_session_factory(get_engine())


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction has committed; drop it on rollback."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(callback)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(AFTER_COMMIT_KEY, [])
    for callback in callbacks:
        callback()


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None or not previous_transaction.is_active:
        session.info.pop(AFTER_COMMIT_KEY, None)


@contextmanager
def session_scope(
    factory: sessionmaker[Session] | None = None, *, write: bool = False
) -> Iterator[Session]:
    """A unit of work for tasks and CLI commands: commit on success, roll back on error.

    `write=True` on SQLite begins with `BEGIN IMMEDIATE`: the transaction waits (busy timeout)
    for the write lock up front. A deferred transaction that reads first and writes later fails
    at once with "database is locked" when any other connection committed in between (WAL's
    stale snapshot), whatever the busy timeout; that is how every web export used to fail while
    its job's heartbeat committed beside it.
    """
    session = (factory or get_session_factory())()
    try:
        if write and session.get_bind().dialect.name == "sqlite":
            session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked" / "database is busy" (SQLITE_BUSY and its variants)."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, sqlite3.OperationalError) and (
        "locked" in str(orig) or "busy" in str(orig)
    )


def transaction(
    work: Callable[[Session], T],
    factory: sessionmaker[Session] | None = None,
    *,
    write: bool = True,
    attempts: int = 8,
) -> T:
    """Run `work` in its own short transaction and commit; a transaction that hit SQLITE_BUSY
    is rolled back and run again (with back-off), so `work` must be safe to repeat."""
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            with session_scope(factory, write=write) as db:
                return work(db)
        except OperationalError as exc:
            if attempt == attempts or not is_busy(exc):
                raise
            log.info("database busy (attempt %s of %s); retrying", attempt, attempts)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")  # pragma: no cover
