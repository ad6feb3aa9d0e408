"""Reading a training file for the command-line checks: every readable row, with the bad ones
either named in an error or skipped and listed (pure: files in, records out)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from app.formats.pipeline import ParsedRow, parse_file
from app.formats.readers import open_records
from app.formats.source_base import FileFormatError


class CheckInputError(ValueError):
    """An input file cannot be used; the message names the file, row and field."""


def parsed_rows(
    path: Path, skipped: list[str], *, skip_bad_rows: bool = False
) -> Iterator[tuple[int, ParsedRow]]:
    """(record index, parsed row) of every readable record of a training file.

    A bad row raises :class:`CheckInputError` naming file, line and field, unless
    ``skip_bad_rows``: then its description goes to ``skipped`` and the index still counts it.
    """
    try:
        with open_records(path) as source:
            for index, parsed in enumerate(parse_file(source)):
                if parsed.record is not None:
                    yield index, parsed
                    continue
                err = parsed.error
                where = (
                    f"{path}: {err.unit} {err.number}: field {err.field}: {err.message}"
                    if err
                    else f"{path}: record {index}"
                )
                if not skip_bad_rows:
                    raise CheckInputError(f"{where} (use --skip-bad-rows to check the rest)")
                skipped.append(where)
    except FileFormatError as exc:
        raise CheckInputError(str(exc)) from None
