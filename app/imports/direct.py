"""PostgreSQL bulk import: COPY each batch straight into `examples` / `preference_pairs`.

Deduplication happens before the COPY instead of after it: a row whose content hash came
earlier in the file is dropped in Python, and one the project already holds is dropped after one
indexed lookup per batch (`content_hash = ANY(...)`). What is left cannot conflict, so it goes
into the table by COPY with no staging table and no INSERT ... SELECT. If a concurrent writer
commits one of the same hashes between that lookup and the COPY, the batch's SAVEPOINT is rolled
back and that batch alone goes through the staging merge (`Stage`, ON CONFLICT DO NOTHING).

Every batch runs inside the import's own SAVEPOINT (see service._Loader), so the import stays
all-or-nothing. benchmarks/import_bench.py measures it beside plain and same-table COPY.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import errors as pg_errors
from sqlalchemy import String, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.imports.staging import MergeCounts, Stage, StageRow
from app.models import Example, ItemStatus, PreferencePair, Source

# Columns both tables share, written once per import as one COPY text prefix.
COMMON = (
    "project_id, source, generator, tags, version, import_job_id, created_at, updated_at, "
    "created_by_id, updated_by_id"
)
EXAMPLE_COPY = (
    f"COPY examples ({COMMON}, status, content_hash, needs_response, messages, tools) FROM STDIN"
)
PAIR_COPY = (
    f"COPY preference_pairs ({COMMON}, status, content_hash, prompt, chosen, rejected) FROM STDIN"
)


def _escape(text: str) -> str:
    """A value for COPY's text format (backslash, tab, newline, carriage return escaped)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _field(value: object) -> str:
    return "\\N" if value is None else _escape(str(value))


@dataclass
class DirectLoader:
    """Loads batches of staged rows into the project's tables by COPY."""

    db: Session
    project_id: int
    source: Source
    generator: str | None
    status: ItemStatus
    user_id: int | None
    job_id: int | None
    now: datetime
    seen: set[bytes] = field(default_factory=set)
    examples: int = 0
    drafts: int = 0
    pairs: int = 0

    def __post_init__(self) -> None:
        stamp = self.now.isoformat()
        user = _field(self.user_id)
        common = (
            self.project_id,
            _field(self.source.value),
            _field(self.generator),
            "[]",
            1,
            _field(self.job_id),
            stamp,
            stamp,
            user,
            user,
        )
        self.prefix = "\t".join(map(str, common)) + "\t"
        self.ready = self.prefix + _field(self.status.value) + "\t"
        self.draft = self.prefix + ItemStatus.draft.value + "\t"

    def add(self, rows: list[StageRow]) -> None:
        """Insert the batch's rows that are new to the file and to the project."""
        fresh = self._new_in_file(rows)
        examples = [r for r in fresh if r[1] == "example"]
        pairs = [r for r in fresh if r[1] == "pair"]
        examples = self._not_in_project(Example, examples)
        pairs = self._not_in_project(PreferencePair, pairs)
        if not examples and not pairs:
            return
        savepoint = self.db.begin_nested()
        try:
            self._copy(EXAMPLE_COPY, [self._example_line(r) for r in examples])
            self._copy(PAIR_COPY, [self._pair_line(r) for r in pairs])
        except IntegrityError as exc:
            savepoint.rollback()
            if not isinstance(exc.orig, pg_errors.UniqueViolation):
                raise
            self._merge_by_staging(examples + pairs)
            return
        except pg_errors.UniqueViolation:
            savepoint.rollback()
            self._merge_by_staging(examples + pairs)
            return
        savepoint.commit()
        drafts = sum(1 for r in examples if r[3])
        self.examples += len(examples)
        self.drafts += drafts
        self.pairs += len(pairs)

    def counts(self) -> MergeCounts:
        return MergeCounts(
            examples=self.examples, examples_need_response=self.drafts, pairs=self.pairs
        )

    def _new_in_file(self, rows: list[StageRow]) -> list[StageRow]:
        seen = self.seen
        fresh = []
        for row in rows:
            key = bytes.fromhex(row[2])  # 32 bytes a row, not a 64-character str
            if key in seen:
                continue
            seen.add(key)
            fresh.append(row)
        return fresh

    def _not_in_project(self, model: Any, rows: list[StageRow]) -> list[StageRow]:
        if not rows:
            return rows
        hashes = literal([r[2] for r in rows], ARRAY(String))
        query = select(model.content_hash).where(
            model.project_id == self.project_id, model.content_hash == any_(hashes)
        )
        held = set(self.db.scalars(query))
        return [r for r in rows if r[2] not in held] if held else rows

    def _example_line(self, row: StageRow) -> str:
        _, _, digest, needs_response, messages, tools, _, _, _ = row
        head = self.draft if needs_response else self.ready
        flag = "t" if needs_response else "f"
        return f"{head}{digest}\t{flag}\t{_field(messages)}\t{_field(tools)}\n"

    def _pair_line(self, row: StageRow) -> str:
        _, _, digest, _, _, _, prompt, chosen, rejected = row
        return f"{self.ready}{digest}\t{_field(prompt)}\t{_field(chosen)}\t{_field(rejected)}\n"

    def _copy(self, statement: str, lines: list[str]) -> None:
        if not lines:
            return
        raw = self.db.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy(statement) as copy:  # type: ignore[union-attr]
            copy.write("".join(lines).encode())

    def _merge_by_staging(self, rows: list[StageRow]) -> None:
        """A concurrent writer holds one of these hashes now: let ON CONFLICT sort it out."""
        stage = Stage(self.db)
        stage.add(rows)
        counts = stage.merge(
            project_id=self.project_id,
            source=self.source,
            generator=self.generator,
            status=self.status,
            user_id=self.user_id,
            job_id=self.job_id,
            now=self.now,
        )
        stage.drop()
        self.examples += counts.examples
        self.drafts += counts.examples_need_response
        self.pairs += counts.pairs
