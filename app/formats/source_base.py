"""The record-source interface shared by every container reader."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from app.formats.limits import ImportLimits, LimitExceeded
from app.formats.records import RowError

CHUNK_SIZE = 1 << 20
"""Bytes read from disk at a time; memory stays bounded by a few chunks plus the largest record."""


Row = tuple[int, dict[str, Any] | RowError]
"""What a record source yields: a 1-based number and the record, or the error for that row."""


class FileFormatError(Exception):
    """The file as a whole cannot be read (missing, unknown container, empty, corrupt)."""


class RecordSource:
    """A one-pass stream of raw records from one input file or directory.

    Iterating yields ``(number, record)`` where ``number`` counts from 1 in :attr:`unit`\\ s
    (``"line"``: JSONL and CSV physical lines; ``"record"``: JSON array elements, parquet and
    datasets rows) and ``record`` is the decoded dict, or a :class:`RowError` for a row that could
    not be decoded.  Read failures part-way (a truncated gzip, say) raise
    :class:`FileFormatError`.  Use as a context manager, or call :meth:`close`.
    """

    unit: str = "record"
    container: str = ""
    """What was detected: "jsonl", "json", "csv", "parquet" or "datasets"."""
    compressed: bool = False
    """Whether the file was gzip-compressed."""
    limits: ImportLimits = ImportLimits()
    """Set by `open_records`: the line-length and size limits the reader enforces."""
    prechecked: bool = False
    """True when the reader checks each record against the depth and field limits itself."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._started = False
        self._finished = False

    def __iter__(self) -> Iterator[Row]:
        if self._started:
            raise RuntimeError(f"{self.path}: a record source can only be iterated once")
        self._started = True
        # The subclass generator is handed out directly (not wrapped in another generator) to
        # save a frame switch per row; each one runs its loop inside _reading().
        return self._records()

    def fraction_read(self) -> float:
        """Share of the input consumed so far, 0..1 (for progress bars); 1.0 once exhausted."""
        if self._finished:
            return 1.0
        return min(1.0, max(0.0, self._progress()))

    def close(self) -> None:
        """Release open files; safe to call twice."""

    def __enter__(self) -> RecordSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _records(self) -> Iterator[Row]:
        raise NotImplementedError

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Wrap a subclass's read loop: turn I/O failures into FileFormatError and note the end."""
        try:
            yield
        except (OSError, EOFError, zlib.error) as exc:
            raise FileFormatError(f"{self.path}: read failed: {exc}") from exc
        except LimitExceeded as exc:
            raise FileFormatError(str(exc)) from exc
        self._finished = True

    def _progress(self) -> float:
        return 0.0


class ByteStreamSource(RecordSource):
    """A source that reads a (possibly decompressing) byte stream; progress is measured on the
    file on disk, so it is right for compressed files too."""

    def __init__(self, path: Path, stream: IO[bytes], raw: IO[bytes], size: int) -> None:
        super().__init__(path)
        self.stream = stream
        self._raw = raw
        self._size = size

    def _progress(self) -> float:
        if self._raw.closed or not self._size:
            return 0.0
        return self._raw.tell() / self._size

    def close(self) -> None:
        self.stream.close()
        self._raw.close()

    def error(self, number: int, field: str, message: str) -> RowError:
        return RowError(number, self.unit, field, message)
