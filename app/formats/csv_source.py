"""Reader for CSV (and TSV) files with a header row."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from app.formats.records import RowError
from app.formats.source_base import ByteStreamSource, FileFormatError, Row

_JSON_COLUMNS = ("messages", "conversations", "tools")
_MESSAGE_COLUMNS = ("prompt", "completion", "chosen", "rejected")
_FIELD_LIMIT = 1 << 27


class CsvSource(ByteStreamSource):
    """CSV (or TSV) with a header row.  Numbers are the physical line a record starts on, so a
    quoted cell spanning lines shifts the numbers of the records after it."""

    unit = "line"
    container = "csv"

    def __init__(
        self, path: Path, stream: IO[bytes], raw: IO[bytes], size: int, delimiter: str = ","
    ) -> None:
        super().__init__(path, stream, raw, size)
        # Cells holding whole conversations can exceed csv's 128 KiB default limit.  The limit
        # is process-wide, so only ever raise it.
        if csv.field_size_limit() < _FIELD_LIMIT:
            csv.field_size_limit(_FIELD_LIMIT)
        self._text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
        self._reader = csv.reader(self._text, delimiter=delimiter)
        try:
            header = next(row for row in self._reader if row)
        except (StopIteration, csv.Error, UnicodeDecodeError) as exc:
            raise FileFormatError(f"{path}: cannot read a CSV header row: {exc}") from None
        self._header = [name.strip() for name in header]
        if len(set(self._header)) != len(self._header) or "" in self._header:
            raise FileFormatError(f"{path}: CSV header has empty or repeated column names")

    def close(self) -> None:
        self._text.close()
        super().close()

    def _records(self) -> Iterator[Row]:
        header = self._header
        reader = self._reader
        json_columns = [name for name in _JSON_COLUMNS if name in header]
        message_columns = [name for name in _MESSAGE_COLUMNS if name in header]
        has_json = bool(json_columns or message_columns)
        line_end = reader.line_num
        with self._reading():
            while True:
                start = line_end + 1
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    if reader.line_num == line_end:  # nothing consumed: cannot make progress
                        raise FileFormatError(f"{self.path}: line {start}: {exc}") from None
                    line_end = reader.line_num
                    yield start, self.error(start, "csv", f"malformed CSV: {exc}")
                    continue
                except UnicodeDecodeError as exc:
                    yield start, self.error(start, "csv", f"invalid UTF-8 ({exc.reason}); stopped")
                    return
                line_end = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    message = f"expected {len(header)} fields (as in the header), got {len(row)}"
                    yield start, self.error(start, "csv", message)
                    continue
                record: dict[str, Any] = dict(zip(header, row, strict=False))  # lengths match
                if has_json:
                    yield start, self._decode_cells(start, record, json_columns, message_columns)
                else:
                    yield start, record

    def _decode_cells(
        self,
        number: int,
        record: dict[str, Any],
        json_columns: list[str],
        message_columns: list[str],
    ) -> dict[str, Any] | RowError:
        """Decode cells that hold JSON: structured columns always; text-or-messages columns only
        when the cell is an array of objects (so a prompt like "[1, 2] sorted?" stays text)."""
        for name in json_columns:
            cell = record[name]
            if cell.lstrip()[:1] in ("[", "{"):
                try:
                    record[name] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    return self.error(number, name, f"invalid JSON: {exc.msg} (col {exc.colno})")
        for name in message_columns:
            cell = record[name]
            if cell.lstrip().startswith("["):
                try:
                    value = json.loads(cell)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                    record[name] = value
        return record
