"""What a user may read about an unexpected failure: never SQL, a stack trace or a server path.

The full exception goes to the server log; the job (or page) shows a short description of what
kind of failure it was and what to do about it.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError

_PATH = re.compile(r"(?<![\w.])(?:/[\w.+-]+){2,}/?|[A-Za-z]:\\[^\s'\"]+")


def describe(exc: BaseException) -> str:
    """A message about `exc` fit to show to the user who started the work."""
    if isinstance(exc, DataError):
        return (
            "the database refused a value (out of range, or text with a NUL character); "
            "fix the input and retry"
        )
    if isinstance(exc, IntegrityError):
        return "the data conflicts with what is stored (a duplicate or a missing reference)"
    if isinstance(exc, OperationalError):
        return "the database was unavailable or timed out; retry the job"
    if isinstance(exc, SQLAlchemyError):
        return "a database error stopped the job; the server log has the details"
    if isinstance(exc, MemoryError):
        return "the job ran out of memory; try a smaller input"
    if isinstance(exc, OSError):
        return f"a file operation failed ({type(exc).__name__}); the server log has the details"
    name = type(exc).__name__
    return f"an internal error stopped the job ({name}); the server log has the details"


def scrub_paths(message: str) -> str:
    """`message` with absolute file paths replaced by their last component."""
    return _PATH.sub(lambda m: "…/" + re.split(r"[/\\]", m.group().rstrip("/\\"))[-1], message)
