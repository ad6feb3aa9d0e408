"""Request-scoped database session: one transaction per request, committed before the response."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from app.db import SQLITE_BEGIN

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _new_session(request: Request) -> Session:
    factory: sessionmaker[Session] = request.app.state.session_factory
    bind = factory.kw.get("bind")
    if request.method in SAFE_METHODS or bind is None or bind.dialect.name != "sqlite":
        return factory()
    # A deferred SQLite transaction that reads (the policy's session lookup) and then writes
    # fails at once with "database is locked" when another connection committed in between:
    # busy_timeout does not cover a snapshot that can't be upgraded. Write requests therefore
    # take the write lock when their transaction begins (at the first query, after the body
    # has been read) and wait their turn.
    write_bind = getattr(request.app.state, "sqlite_write_bind", None)
    if write_bind is None:
        write_bind = bind.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        request.app.state.sqlite_write_bind = write_bind
    return factory(bind=write_bind)


def get_db(request: Request) -> Iterator[Session]:
    # Cached per request by FastAPI, so the policy and the route share one session.
    session = _new_session(request)
    try:
        yield session
        session.commit()
    except BaseException:
        # Detach first so the error page can still read the user and project it was given:
        # a rollback would expire them, and the closed session could not reload them.
        session.expunge_all()
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_db, scope="function")]


def _writes_on_read(db: SessionDep) -> None:
    """For the few GET routes that write (lazy bookkeeping): on SQLite, take the write lock when
    the request's transaction begins, as write requests do. Declare it before the policy."""
    if db.get_bind().dialect.name == "sqlite" and not db.in_transaction():
        db.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})


WritesOnRead = Annotated[None, Depends(_writes_on_read)]
