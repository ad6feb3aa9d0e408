"""503, not a 500 or a hang, while the database cannot be reached (a restart, a failover) or
SQLite stays busy beyond its timeout. The pool re-connects by itself (pre-ping) once the
database is back, so the server recovers with no restart."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.db import is_busy
from app.web.errors import error_response

RETRY_AFTER_S = 5
MESSAGE = "the database is unavailable or busy; try again in a few seconds"


def is_unavailable(exc: BaseException) -> bool:
    """A lost or refused connection (PostgreSQL) or a lock that outlasted the busy timeout
    (SQLite): nothing about the request itself is wrong."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or is_busy(exc):
        return True
    orig = exc.orig
    module = type(orig).__module__ if orig is not None else ""
    return module.startswith("psycopg") and type(orig).__name__ == "OperationalError"


def install(app: FastAPI) -> None:
    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        if not is_unavailable(exc):
            raise exc
        response = error_response(request, 503, "unavailable", MESSAGE)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        response = error_response(request, 503, "unavailable", MESSAGE)
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response
