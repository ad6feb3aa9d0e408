"""Errors shown to users never carry SQL, stack traces or server file paths."""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DataError, OperationalError

from app.errors import Invalid
from app.public_errors import describe, scrub_paths


def test_database_errors_are_described_without_sql() -> None:
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT * FROM no_such_table WHERE secret = 'x'"))
    except OperationalError as exc:
        message = describe(exc)
    assert "SELECT" not in message and "no_such_table" not in message
    assert "database" in message
    data = DataError("INSERT INTO examples VALUES (%s)", {"x": 1}, Exception("int4 overflow"))
    assert "INSERT" not in describe(data) and "out of range" in describe(data)


def test_other_errors_name_only_their_kind() -> None:
    message = describe(FileNotFoundError(2, "No such file", "/srv/trellis-data/uploads/abc.jsonl"))
    assert "/srv" not in message and "FileNotFoundError" in message
    assert "kaboom" not in describe(ValueError("kaboom at /home/app/x.py line 3"))


def test_paths_in_app_errors_are_cut_to_their_last_part() -> None:
    message = Invalid("cannot read /srv/trellis-data/uploads/17/rows.jsonl.gz: truncated").message
    scrubbed = scrub_paths(message)
    assert "/srv" not in scrubbed and "rows.jsonl.gz" in scrubbed
    assert scrub_paths("field messages.0.content: too long") == "field messages.0.content: too long"
    assert scrub_paths("expected a/b") == "expected a/b"
