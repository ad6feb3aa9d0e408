"""Import a feedback log (JSONL, CSV, Parquet, or a gzip of one) into a project.

The file is read with the shared readers (`app.formats`: container detection, gzip, the size,
line and field limits), one pass in bounded memory. Parsed responses are spooled to a temporary
file and written in batches at the end, so the import's first touch of the main database is its
insert (see `imports.staging` on why that matters on SQLite). Strict imports that meet a bad row
write nothing and report every bad row by file, line and field; `skip_invalid` keeps the valid
rows and writes the bad ones, with reasons, to a rejects file.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from sqlalchemy.orm import Session

from app.config import get_settings
from app.errors import Invalid
from app.feedback import repository
from app.feedback.schemas import FeedbackImportOptions, FeedbackImportSummary, RowProblem
from app.formats import FileFormatError, RecordInvalid, RowError, open_records
from app.formats.feedback import FieldMapping, RatedResponse, parse_feedback
from app.formats.limits import ImportLimits, record_problem
from app.models.base import utcnow

MAX_LISTED_ERRORS = 100
BATCH_ROWS = 2000
Progress = Callable[[float, str], None]


def import_feedback(
    db: Session,
    *,
    project_id: int,
    path: Path,
    options: FeedbackImportOptions,
    job_id: int | None = None,
    display_name: str | None = None,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    limits: ImportLimits | None = None,
) -> FeedbackImportSummary:
    """Import `path`. Raises `Invalid` (nothing imported) on a strict import with bad rows, or
    when the file cannot be read. Never commits."""
    name = display_name or path.name
    limits = limits or get_settings().import_limits()
    mapping = FieldMapping.of(options.fields.renames())
    report = progress or (lambda _f, _m: None)
    started = time.perf_counter()
    errors: list[RowProblem] = []
    counts = {"rows": 0, "responses": 0, "invalid": 0, "up": 0, "down": 0, "neutral": 0}
    rejects: IO[str] | None = None
    with tempfile.TemporaryFile(prefix="trellis-feedback-") as spool:
        try:
            try:
                source = open_records(path, limits)
            except FileFormatError as exc:
                raise Invalid(f"{name}: {exc}") from exc
            with source:
                for number, raw in _records(source, name):
                    counts["rows"] += 1
                    if counts["rows"] > limits.max_rows:
                        raise Invalid(
                            f"{name}: more than {limits.max_rows:,} rows "
                            "(TRELLIS_IMPORT_MAX_ROWS); split the file"
                        )
                    error = _check(raw, number, source.unit, source.prechecked, limits)
                    rated: list[RatedResponse] = []
                    if error is None and isinstance(raw, dict):
                        try:
                            rated = parse_feedback(raw, mapping)
                        except RecordInvalid as exc:
                            error = RowError(number, source.unit, exc.field, exc.message)
                    if error is not None:
                        counts["invalid"] += 1
                        if len(errors) < MAX_LISTED_ERRORS:
                            errors.append(_problem(error))
                        if options.skip_invalid and counts["invalid"] <= limits.max_rejects_kept:
                            rejects = rejects or _open_rejects(rejects_path, path)
                            record = raw if isinstance(raw, dict) else None
                            rejects.write(_dumps({**error.to_dict(), "record": record}) + "\n")
                        continue
                    if counts["invalid"] and not options.skip_invalid:
                        continue  # keep validating to report every bad row; store nothing
                    for response in rated:
                        counts["responses"] += 1
                        key = "neutral" if response.label is None else (
                            "up" if response.label else "down"
                        )  # fmt: skip
                        counts[key] += 1
                        spool.write(_dumps(_row(response, name, number)).encode() + b"\n")
                    if counts["rows"] % 5000 == 0:
                        report(0.8 * source.fraction_read(), f"read {counts['rows']:,} rows")
        finally:
            if rejects is not None:
                rejects.close()
        if counts["rows"] == 0:
            raise Invalid(f"{name}: the file holds no records")
        if counts["invalid"] and not options.skip_invalid:
            raise Invalid(
                _failure_message(name, counts["invalid"], errors),
                details={"errors": [e.model_dump() for e in errors], "invalid": counts["invalid"]},
            )
        report(0.85, "storing the rated responses")
        imported = _store(db, spool, project_id, job_id)
    return FeedbackImportSummary(
        file=name,
        **counts,
        imported=imported,
        duplicates_skipped=counts["responses"] - imported,
        errors=errors,
        errors_truncated=counts["invalid"] > len(errors),
        rejects_file=str(rejects_path or _default_rejects(path)) if rejects else None,
        seconds=round(time.perf_counter() - started, 3),
    )


def _records(source: Any, name: str) -> Iterator[tuple[int, Any]]:
    """The source's rows; a read failure part-way is the uploader's problem (a 4xx)."""
    try:
        yield from source
    except FileFormatError as exc:
        raise Invalid(f"{name}: {exc}") from exc


def _check(
    raw: Any, number: int, unit: str, prechecked: bool, limits: ImportLimits
) -> RowError | None:
    if isinstance(raw, RowError):
        return raw
    if not isinstance(raw, dict):
        return RowError(number, unit, "*", "expected an object")
    problem = None if prechecked else record_problem(raw, limits)
    return RowError(number, unit, *problem) if problem is not None else None


def _row(response: RatedResponse, file: str, line: int) -> dict[str, Any]:
    return {
        "file": file[:200],
        "line": line,
        "log_id": response.log_id,
        "prompt": response.prompt,
        "response": response.response,
        "prompt_key": response.prompt_key,
        "context_key": response.context_key,
        "response_key": response.response_key,
        "label": response.label,
        "score": response.score,
        "rating": response.rating,
        "entry_hash": response.entry_hash,
    }


def _store(db: Session, spool: IO[bytes], project_id: int, job_id: int | None) -> int:
    """Insert the spooled rows in batches, inside one SAVEPOINT (all or nothing)."""
    spool.seek(0)
    now = utcnow()
    common = {"project_id": project_id, "import_job_id": job_id, "created_at": now}
    inserted = 0
    savepoint = db.begin_nested()
    try:
        batch: list[dict[str, Any]] = []
        for line in spool:
            batch.append({**orjson.loads(line), **common})
            if len(batch) >= BATCH_ROWS:
                inserted += repository.insert_entries(db, batch)
                batch = []
        inserted += repository.insert_entries(db, batch)
        savepoint.commit()
    except BaseException:
        savepoint.rollback()
        raise
    return inserted


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def _problem(error: RowError) -> RowProblem:
    return RowProblem(unit=error.unit, number=error.number, field=error.field, error=error.message)


def _failure_message(name: str, invalid: int, errors: list[RowProblem]) -> str:
    shown = "; ".join(f"{e.unit} {e.number}, field {e.field}: {e.error}" for e in errors[:10])
    more = f" (and {invalid - 10} more)" if invalid > 10 else ""
    return (
        f"{name}: {invalid} invalid row{'s' if invalid != 1 else ''}, nothing imported: "
        f"{shown}{more}. Fix the file (or the field mapping), or import with skip invalid "
        "rows to keep the valid ones."
    )


def _default_rejects(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.jsonl")


def _open_rejects(rejects_path: Path | None, path: Path) -> IO[str]:
    target = rejects_path or _default_rejects(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.open("w", encoding="utf-8")
