"""Bulk import SQL: rows are staged in a per-import TEMPORARY table, then merged into
`examples` / `preference_pairs` by one INSERT ... SELECT each, deduplicated by content hash.

Staging keeps the import atomic without holding write locks while a large file is parsed
(temporary tables live outside the main database on SQLite, and on PostgreSQL a temporary table
locks nothing shared), and it lets PostgreSQL load rows with COPY.

Caller's contract on SQLite: the import transaction must not read the main database before
`merge` (a read snapshot taken earlier could not be upgraded to a write if another connection,
such as the job's progress updates, committed in between).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    cast,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex
from sqlalchemy.sql.elements import ColumnElement

from app.models import Example, ItemStatus, PreferencePair, Source

STAGE_COLUMNS = (
    "rownum",
    "kind",
    "content_hash",
    "needs_response",
    "messages",
    "tools",
    "prompt",
    "chosen",
    "rejected",
)
# rownum, kind, content_hash, needs_response, messages, tools, prompt, chosen, rejected
StageRow = tuple[int, str, str, bool, str | None, str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class MergeCounts:
    examples: int
    examples_need_response: int
    pairs: int


def _copy_field(value: str | int | bool | None) -> str:
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    text = str(value)
    # COPY text format: backslash, tab, newline and carriage return must be escaped.
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy_line(row: StageRow) -> str:
    return "\t".join(map(_copy_field, row)) + "\n"


class Stage:
    """A temporary staging table bound to one session's connection."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.dialect = db.get_bind().dialect.name
        self.table = Table(
            f"import_stage_{uuid.uuid4().hex[:12]}",
            MetaData(),
            Column("rownum", Integer, nullable=False),
            Column("kind", String(8), nullable=False),
            Column("content_hash", String(64), nullable=False),
            Column("needs_response", Boolean, nullable=False),
            Column("messages", Text),
            Column("tools", Text),
            Column("prompt", Text),
            Column("chosen", Text),
            Column("rejected", Text),
            prefixes=["TEMPORARY"],
        )
        self.table.create(db.connection())
        self.db.execute(
            CreateIndex(
                Index(f"{self.table.name}_hash", self.table.c.content_hash, self.table.c.rownum)
            )
        )

    def add(self, rows: list[StageRow]) -> None:
        if not rows:
            return
        if self.dialect == "postgresql":
            self._copy(rows)
        else:
            self.db.execute(
                insert(self.table), [dict(zip(STAGE_COLUMNS, r, strict=True)) for r in rows]
            )

    def _copy(self, rows: list[StageRow]) -> None:
        # One COPY ... FROM STDIN per batch, written as COPY text lines we format ourselves:
        # psycopg's per-value adaptation in write_row() cost more than the server's work.
        raw = self.db.connection().connection.driver_connection
        cols = ", ".join(STAGE_COLUMNS)
        data = "".join(_copy_line(row) for row in rows).encode()
        with raw.cursor() as cur, cur.copy(f"COPY {self.table.name} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            copy.write(data)

    def merge(
        self,
        *,
        project_id: int,
        source: Source,
        generator: str | None,
        status: ItemStatus,
        user_id: int | None,
        job_id: int | None,
        now: datetime,
    ) -> MergeCounts:
        """Insert each staged content hash once (its first occurrence in the file), skipping
        hashes the project already holds. Returns how many rows were really inserted."""
        common: dict[str, ColumnElement[Any]] = {
            "project_id": literal(project_id),
            "source": literal(source.value),
            "generator": literal(generator, String),
            "tags": self._json(literal("[]")),
            "content_hash": self.table.c.content_hash,
            "version": literal(1),
            "import_job_id": literal(job_id, Integer),
            "created_at": literal(now),
            "updated_at": literal(now),
            "created_by_id": literal(user_id, Integer),
            "updated_by_id": literal(user_id, Integer),
        }
        ready = self._merge_examples(common, status=status, needs_response=False)
        drafts = self._merge_examples(common, status=ItemStatus.draft, needs_response=True)
        pairs = self._insert(
            PreferencePair.__table__,  # type: ignore[arg-type]
            {
                **common,
                "status": literal(status.value),
                "prompt": self._json(self.table.c.prompt),
                "chosen": self._json(self.table.c.chosen),
                "rejected": self._json(self.table.c.rejected),
            },
            kind="pair",
        )
        return MergeCounts(examples=ready + drafts, examples_need_response=drafts, pairs=pairs)

    def drop(self) -> None:
        self.table.drop(self.db.connection())

    def _merge_examples(
        self, common: dict[str, ColumnElement[Any]], *, status: ItemStatus, needs_response: bool
    ) -> int:
        return self._insert(
            Example.__table__,  # type: ignore[arg-type]
            {
                **common,
                "status": literal(status.value),
                "messages": self._json(self.table.c.messages),
                "tools": self._json(self.table.c.tools),
                "needs_response": literal(needs_response),
            },
            kind="example",
            extra=self.table.c.needs_response == needs_response,
        )

    def _insert(
        self,
        target: Table,
        values: dict[str, ColumnElement[Any]],
        *,
        kind: str,
        extra: ColumnElement[bool] | None = None,
    ) -> int:
        stage = self.table
        first = stage.alias("first")
        # No earlier row of the file with the same hash (an index probe per row).
        is_first = ~(
            select(first.c.rownum)
            .where(first.c.content_hash == stage.c.content_hash, first.c.rownum < stage.c.rownum)
            .exists()
        )
        where = and_(stage.c.kind == kind, is_first, *([extra] if extra is not None else []))
        query = select(*[v.label(k) for k, v in values.items()]).where(where)
        dialect_insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = (
            dialect_insert(target)
            .from_select(list(values), query)
            .on_conflict_do_nothing(index_elements=["project_id", "content_hash"])
        )
        # rowcount of an INSERT is only kept when asked for (SQLAlchemy 2 preserve_rowcount).
        result = self.db.execute(statement.execution_options(preserve_rowcount=True))
        inserted = int(result.rowcount)  # type: ignore[attr-defined]
        result.close()  # SQLite can't drop the staging table while a statement is open on it
        return inserted

    def _json(self, column: ColumnElement[str]) -> ColumnElement[object]:
        # Staged JSON is text; PostgreSQL needs an explicit cast to JSONB. On SQLite JSON *is*
        # text (a CAST there would apply numeric affinity).
        if self.dialect == "postgresql":
            return cast(column, postgresql.JSONB)
        return column  # type: ignore[return-value]
