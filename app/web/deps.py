"""Request-scoped database session: one transaction per request, committed before the response."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from anyio.to_thread import run_sync
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


def _commit(session: Session) -> None:
    try:
        session.commit()
    except BaseException:
        _discard(session)
        raise
    session.close()


def _discard(session: Session) -> None:
    # Detach first so the error page can still read the user and project it was given:
    # a rollback would expire them, and the closed session could not reload them.
    try:
        session.expunge_all()
        session.rollback()
    finally:
        session.close()


async def get_db(request: Request) -> AsyncIterator[Session]:
    """Cached per request by FastAPI, so the policy and the route share one session.

    An async dependency: opening a session does no I/O (the connection is taken at the first
    query, in the route's thread), so only the commit or rollback at the end goes to a worker
    thread; a sync generator would cost a thread hop on the way in as well. The end is
    shielded from cancellation (a client that hangs up) so the connection always goes back
    to the pool."""
    session = _new_session(request)
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run_sync(_discard, session)
        raise
    with anyio.CancelScope(shield=True):
        await run_sync(_commit, session)


SessionDep = Annotated[Session, Depends(get_db, scope="function")]


def _writes_on_read(db: SessionDep) -> None:
    """For the few GET routes that write (lazy bookkeeping): on SQLite, take the write lock when
    the request's transaction begins, as write requests do. Declare it before the policy."""
    if db.get_bind().dialect.name == "sqlite" and not db.in_transaction():
        db.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})


WritesOnRead = Annotated[None, Depends(_writes_on_read)]


def release_before_slow_work(db: Session) -> None:
    """End the request's transaction before slow work (storing a large upload) while it has
    written nothing: on SQLite a write request holds the database's write lock from its first
    query, so every other writer, the workers included, would wait for the copy. The next
    query begins a new transaction (with the write lock, as before)."""
    if db.in_transaction() and not (db.new or db.dirty or db.deleted):
        db.rollback()
