"""Import a file of SFT examples or preference pairs into a project.

One pass over the file in bounded memory: parse and validate each record, stage the valid ones,
and at the end merge them in one statement per table. Strict imports that meet any invalid row
stage nothing into the project (all-or-nothing) and report every bad row; `skip_invalid` imports
the valid rows and writes the bad ones, with reasons, to a rejects file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy.orm import Session

from app.config import get_settings
from app.errors import Invalid
from app.formats import (
    FORMATS,
    ExampleRecord,
    FileFormatError,
    PairRecord,
    RowError,
    open_records,
    parse_file,
)
from app.formats.limits import ImportLimits
from app.imports.direct import DirectLoader
from app.imports.schemas import ImportOptions, ImportSummary, RowProblem
from app.imports.staging import MergeCounts, Stage, StageRow
from app.models import Source
from app.models.base import utcnow

MAX_LISTED_ERRORS = 100
BATCH_ROWS = 5000
Progress = Callable[[float, str], None]


def _dumps(value: Any) -> str:
    """Compact JSON; orjson first (several times faster on the import hot path)."""
    try:
        return orjson.dumps(value, default=str).decode()
    except (orjson.JSONEncodeError, TypeError):  # e.g. a lone surrogate: json escapes it
        return json.dumps(value, separators=(",", ":"), default=str)


def stage_row(number: int, record: ExampleRecord | PairRecord) -> StageRow:
    if isinstance(record, ExampleRecord):
        return (
            number,
            "example",
            record.content_hash,
            record.needs_response,
            _dumps(record.messages),
            _dumps(record.tools) if record.tools is not None else None,
            None,
            None,
            None,
        )
    return (
        number,
        "pair",
        record.content_hash,
        False,
        None,
        None,
        _dumps(record.prompt),
        _dumps(record.chosen),
        _dumps(record.rejected),
    )


class _Loader:
    """Feeds parsed rows, a batch at a time, to the staging table; `finish` merges them.

    The whole import sits in one SAVEPOINT, so an error leaves the project exactly as it was,
    whatever the caller does with its transaction next. (Merging batch by batch on a background
    thread while parsing went on was measured too: no faster, as the server's insert work
    dominates; see benchmarks/import_bench.py.)
    """

    def __init__(self, db: Session, merge_args: dict[str, Any], batch_rows: int) -> None:
        self.merge_args = merge_args
        self.batch_rows = batch_rows
        self.batch: list[StageRow] = []
        # PostgreSQL: COPY straight into the tables, batch by batch (imports.direct). SQLite:
        # the staging table and one merge at the end (its contract: no read before the merge).
        postgres = db.get_bind().dialect.name == "postgresql"
        self.direct = DirectLoader(db, **merge_args) if postgres else None
        self.stage = None if postgres else Stage(db)

    def add(self, row: StageRow) -> bool:
        """Queue one row; True when a batch went to the database."""
        self.batch.append(row)
        if len(self.batch) < self.batch_rows:
            return False
        self._flush()
        return True

    def _flush(self) -> None:
        if self.direct is not None:
            self.direct.add(self.batch)
        elif self.stage is not None:
            self.stage.add(self.batch)
        self.batch = []

    def finish(self) -> MergeCounts:
        self._flush()
        if self.direct is not None:
            return self.direct.counts()
        assert self.stage is not None
        counts = self.stage.merge(**self.merge_args)
        self.stage.drop()
        return counts


def import_file(
    db: Session,
    *,
    project_id: int,
    path: Path,
    options: ImportOptions,
    user_id: int | None,
    job_id: int | None = None,
    display_name: str | None = None,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
    limits: ImportLimits | None = None,
) -> ImportSummary:
    """Import `path` into the project. Raises `Invalid` (nothing imported) on a strict import
    with bad rows, or when the file itself can't be read. Never commits."""
    name = display_name or path.name
    limits = limits or get_settings().import_limits()
    if options.format is not None and options.format not in FORMATS:
        raise Invalid(f"unknown format '{options.format}'; use one of: {', '.join(FORMATS)}")
    if options.generator and options.source is not Source.synthetic:
        raise Invalid("--generator only applies to --source synthetic")
    if options.source is Source.feedback:
        raise Invalid("source 'feedback' is for pairs made from rated logs: import those with "
                      "the feedback import (trellis feedback import)")  # fmt: skip
    started = time.perf_counter()
    report = progress or (lambda _f, _m: None)
    errors: list[RowProblem] = []
    invalid = rows = 0
    detected: str | None = options.format
    rejects: IO[str] | None = None
    merge_args: dict[str, Any] = {
        "project_id": project_id,
        "source": options.source,
        "generator": options.generator,
        "status": options.status,
        "user_id": user_id,
        "job_id": job_id,
        "now": utcnow(),
    }
    savepoint = db.begin_nested()
    loader = _Loader(db, merge_args, batch_rows)
    try:
        try:
            source = open_records(path, limits)
        except FileFormatError as exc:
            raise Invalid(f"{name}: {exc}") from exc
        with source, _read_failures_are_invalid(name):
            for parsed in parse_file(source, options.format):
                rows += 1
                if rows > limits.max_rows:
                    raise Invalid(
                        f"{name}: more than {limits.max_rows:,} rows "
                        "(TRELLIS_IMPORT_MAX_ROWS); split the file"
                    )
                if parsed.error is not None:
                    invalid += 1
                    if len(errors) < MAX_LISTED_ERRORS:
                        errors.append(_problem(parsed.error))
                    # Every bad row is counted; only the first ones are kept in the file.
                    if options.skip_invalid and invalid <= limits.max_rejects_kept:
                        rejects = rejects or _open_rejects(rejects_path, path)
                        rejects.write(
                            _dumps({**parsed.error.to_dict(), "record": parsed.raw}) + "\n"
                        )
                    continue
                if parsed.record is None:
                    continue
                if detected is None:
                    detected = parsed.fmt
                if invalid and not options.skip_invalid:
                    continue  # keep validating to report every bad row, but load nothing more
                if loader.add(stage_row(parsed.number, parsed.record)):
                    report(0.95 * source.fraction_read(), f"read {rows:,} rows")
        if rows == 0:
            raise Invalid(f"{name}: the file holds no records")
        if invalid and not options.skip_invalid:
            raise Invalid(
                _failure_message(name, invalid, errors),
                details={"errors": [e.model_dump() for e in errors], "invalid": invalid},
            )
        report(0.96, "merging into the project")
        counts = loader.finish()
        savepoint.commit()
    except BaseException:
        savepoint.rollback()
        raise
    finally:
        if rejects is not None:
            rejects.close()
    valid = rows - invalid
    return ImportSummary(
        file=name,
        format=detected,
        rows=rows,
        examples=counts.examples,
        pairs=counts.pairs,
        needs_response=counts.examples_need_response,
        duplicates_skipped=valid - counts.examples - counts.pairs,
        invalid=invalid,
        errors=errors,
        errors_truncated=invalid > len(errors),
        rejects_file=str(rejects_path or _default_rejects(path)) if rejects else None,
        seconds=round(time.perf_counter() - started, 3),
    )


@contextmanager
def _read_failures_are_invalid(name: str) -> Iterator[None]:
    """A file that turns out unreadable or over a limit part-way is the uploader's problem."""
    try:
        yield
    except FileFormatError as exc:
        raise Invalid(f"{name}: {exc}") from exc


def _problem(error: RowError) -> RowProblem:
    return RowProblem(unit=error.unit, number=error.number, field=error.field, error=error.message)


def _failure_message(name: str, invalid: int, errors: list[RowProblem]) -> str:
    shown = "; ".join(f"{e.unit} {e.number}, field {e.field}: {e.error}" for e in errors[:10])
    more = f" (and {invalid - 10} more)" if invalid > 10 else ""
    return (
        f"{name}: {invalid} invalid row{'s' if invalid != 1 else ''}, nothing imported: "
        f"{shown}{more}. Fix the file, or import with --skip-invalid to keep the valid rows."
    )


def _default_rejects(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.jsonl")


def _open_rejects(rejects_path: Path | None, path: Path) -> IO[str]:
    target = rejects_path or _default_rejects(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.open("w", encoding="utf-8")
