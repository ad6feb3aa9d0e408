"""Parse every record of a source into normalised examples or pairs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from app.formats.limits import record_problem
from app.formats.records import ExampleRecord, PairRecord, RecordInvalid, RowError
from app.formats.shapes import FORMATS, Parser, detect_format, parser_for
from app.formats.source_base import RecordSource


@dataclass(slots=True)
class ParsedRow:
    """One row of an input file: a parsed record, or the error that rejected it."""

    number: int
    record: ExampleRecord | PairRecord | None
    error: RowError | None
    raw: dict[str, Any] | None
    """The record as read, for a rejects file; None when the row was not even valid JSON/CSV."""
    fmt: str | None = None
    """The format the row was parsed as; None when it never reached a parser."""


def parse_file(source: RecordSource, fmt: str | None = None) -> Iterator[ParsedRow]:
    """Parse each record of ``source`` in format ``fmt``.

    Without ``fmt`` the format is detected from the first record that is an object.  If that
    record's shape is not recognised, it is reported as a row error (field ``"*"``) and the next
    record is tried, so one stray row cannot derail a file.  An unknown ``fmt`` raises
    ValueError at once, before anything is read.
    """
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _parse_rows(source, fmt)


def _parse_rows(source: RecordSource, fmt: str | None) -> Iterator[ParsedRow]:
    unit = source.unit
    rows = iter(source)
    if fmt is None:
        for number, raw in rows:  # until a record's shape is recognised
            if isinstance(raw, RowError):
                yield ParsedRow(number, None, raw, None)
                continue
            problem = None if source.prechecked else record_problem(raw, source.limits)
            if problem is not None:
                yield ParsedRow(number, None, RowError(number, unit, *problem), None)
                continue
            try:
                fmt = detect_format(raw)
            except RecordInvalid as exc:
                yield ParsedRow(number, None, RowError(number, unit, exc.field, exc.message), raw)
                continue
            yield _parse_row(parser_for(fmt), number, raw, unit, fmt)
            break
        else:
            return
    parse = parser_for(fmt)
    row = ParsedRow  # a local: this is the hot loop, _parse_row inlined
    limits = source.limits
    problem_of = _no_problem if source.prechecked else record_problem
    for number, raw in rows:
        if isinstance(raw, RowError):
            yield row(number, None, raw, None)
            continue
        problem = problem_of(raw, limits)
        if problem is not None:
            yield row(number, None, RowError(number, unit, *problem), None, fmt)
            continue
        try:
            record = parse(raw)
        except RecordInvalid as exc:
            yield row(number, None, RowError(number, unit, exc.field, exc.message), raw, fmt)
            continue
        yield row(number, record, None, raw, fmt)


def _no_problem(_record: object, _limits: object) -> None:
    return None


def _parse_row(parse: Parser, number: int, raw: dict[str, Any], unit: str, fmt: str) -> ParsedRow:
    try:
        return ParsedRow(number, parse(raw), None, raw, fmt)
    except RecordInvalid as exc:
        return ParsedRow(number, None, RowError(number, unit, exc.field, exc.message), raw, fmt)
