"""Read an eval set file into items: the record as read plus the text fields checks compare.

Any container the importer reads (JSON Lines, JSON array, Parquet, a ``datasets`` directory, gzip
of those) plus CSV *with or without* a header row: benchmark CSVs are often headerless (MMLU's
question, four choices and answer letter), so the first row is taken as a header only when it
looks like one.  Headerless columns are named ``column_1`` .. ``column_N``.

By default every string field is eval text; ``fields`` narrows that (GSM8K's ``question`` and
``answer``, HumanEval's ``prompt`` and ``canonical_solution``).  Reading is all-or-nothing: a bad
row raises :class:`EvalFileError` naming the file, the line or record, and the field.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.formats.readers import open_records
from app.formats.records import RowError, canonical_json
from app.formats.source_base import FileFormatError

_HEADER_CELL = re.compile(r"^[A-Za-z_][\w\- ]{0,63}$")
_GZIP_MAGIC = b"\x1f\x8b"


class EvalFileError(ValueError):
    """An eval file cannot be read; the message names the file, the row and the field."""


@dataclass(frozen=True, slots=True)
class EvalRecord:
    """One eval item: its 0-based position in the file, the record, and its text fields."""

    index: int
    original: dict[str, Any]
    fields: dict[str, str]
    """The text fields checks compare, in file order (empty strings left out)."""

    @property
    def text(self) -> str:
        return "\n".join(self.fields.values())

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(canonical_json(self.original).encode()).hexdigest()


def read_eval_file(
    path: str | Path, fields: Sequence[str] | None = None, *, header: bool | None = None
) -> list[EvalRecord]:
    """Every record of ``path`` as an :class:`EvalRecord`.

    ``header`` forces (True) or refuses (False) a CSV header row; None detects it.  Raises
    :class:`EvalFileError` for an unreadable file, a malformed row, a requested field that no
    record has, or a file without any eval text.
    """
    path = Path(path)
    wanted = list(dict.fromkeys(fields)) if fields else None
    raw_records = list(_raw_records(path, header))
    records = [
        _to_record(path, i, number, unit, raw, wanted)
        for i, (number, unit, raw) in enumerate(raw_records)
    ]
    if wanted:
        for name in wanted:
            if not any(name in rec.original for rec in records):
                present = sorted({key for rec in records for key in rec.original})[:20]
                raise EvalFileError(
                    f"{path}: no record has the field {name!r}; fields: {', '.join(present)}"
                )
    if not records:
        raise EvalFileError(f"{path}: the file holds no records")
    if not any(rec.fields for rec in records):
        raise EvalFileError(f"{path}: no record has any text in the chosen fields")
    return records


def _to_record(
    path: Path, index: int, number: int, unit: str, raw: dict[str, Any], wanted: list[str] | None
) -> EvalRecord:
    chosen: dict[str, str] = {}
    names = wanted if wanted is not None else list(raw)
    for name in names:
        if name not in raw:
            continue
        value = raw[name]
        if value is None:
            continue
        if not isinstance(value, str):
            if wanted is None:
                continue  # default: string fields only
            raise EvalFileError(
                f"{path}: {unit} {number}: field {name!r}: expected text, got "
                f"{type(value).__name__}"
            )
        if value.strip():
            chosen[name] = value
    return EvalRecord(index=index, original=raw, fields=chosen)


def _raw_records(path: Path, header: bool | None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    try:
        source = open_records(path)
    except FileFormatError as exc:
        raise EvalFileError(str(exc)) from None
    with source:
        if source.container == "csv":
            yield from _csv_records(path, header)
            return
        try:
            for number, raw in source:
                if isinstance(raw, RowError):
                    raise EvalFileError(
                        f"{path}: {raw.unit} {raw.number}: {raw.field}: {raw.message}"
                    )
                if not isinstance(raw, dict):
                    raise EvalFileError(f"{path}: {source.unit} {number}: expected an object")
                yield number, source.unit, raw
        except FileFormatError as exc:
            raise EvalFileError(str(exc)) from None


def _csv_records(path: Path, header: bool | None) -> Iterator[tuple[int, str, dict[str, Any]]]:
    data = path.read_bytes()
    if data.startswith(_GZIP_MAGIC):
        data = gzip.decompress(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EvalFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    delimiter = "\t" if ".tsv" in path.suffixes[-2:] else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    line_end = 0
    try:
        for row in reader:
            start, line_end = line_end + 1, reader.line_num
            if row:
                rows.append((start, row))
    except csv.Error as exc:
        raise EvalFileError(f"{path}: line {line_end + 1}: malformed CSV: {exc}") from None
    if not rows:
        return
    first = rows[0][1]
    has_header = looks_like_header(first, rows[1][1] if len(rows) > 1 else None)
    if header is not None:
        has_header = header
    if has_header:
        names = [cell.strip() for cell in first]
        if "" in names or len(set(names)) != len(names):
            raise EvalFileError(f"{path}: line 1: CSV header has empty or repeated column names")
        rows = rows[1:]
    else:
        names = [f"column_{i + 1}" for i in range(len(first))]
    for number, row in rows:
        if len(row) != len(names):
            raise EvalFileError(
                f"{path}: line {number}: expected {len(names)} fields, got {len(row)}"
            )
        yield number, "line", dict(zip(names, row, strict=True))


def looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """Whether a CSV's first row names columns rather than holding data.

    A header cell is a short identifier-like name (at most four words, no sentence punctuation)
    and the names are distinct; a row that differs from the next one only in being all names is
    taken as a header.  MMLU's first question ("Mass-society theory suggests that:") is data.
    """
    cells = [cell.strip() for cell in first]
    if not cells or len(set(cells)) != len(cells):
        return False
    for cell in cells:
        if not _HEADER_CELL.match(cell) or len(cell.split()) > 4:
            return False
    if second is None:
        return True
    # A data row of the same shape, identifier-like too (a table of single words), is ambiguous:
    # call it a header only if some column's value differs in kind (a number under a name).
    if all(_HEADER_CELL.match(cell.strip()) for cell in second):
        return any(
            not c.strip().isdigit() and s.strip().replace(".", "", 1).isdigit()
            for c, s in zip(cells, second, strict=False)
        )
    return True
