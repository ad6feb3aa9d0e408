"""Open a training-data file of any supported container and stream its raw records.

The container is recognised by content, not by file name: a directory saved with
``datasets.save_to_disk``; gzip (magic ``1f 8b``) around any of the following; Parquet (magic
``PAR1``); a JSON array (first non-blank character ``[``); JSON Lines (first non-blank ``{``);
otherwise CSV with a header row (tab-separated when the name ends in ``.tsv``/``.tsv.gz``).
"""

from __future__ import annotations

import codecs
import gzip
import io
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import IO

from app.formats.columnar_sources import DatasetDirSource, ParquetSource
from app.formats.csv_source import CsvSource
from app.formats.json_sources import JsonArraySource, JsonLinesSource
from app.formats.limits import CappedReader, ImportLimits
from app.formats.source_base import CHUNK_SIZE, FileFormatError, RecordSource

__all__ = ["FileFormatError", "RecordSource", "open_records"]

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)
_JSON_WHITESPACE = b" \t\r\n"
_SUPPORTED = (
    "JSON array, JSON Lines, CSV, Parquet, a gzip of one of those, "
    "or a directory saved with datasets' save_to_disk"
)


def open_records(path: str | Path, limits: ImportLimits | None = None) -> RecordSource:
    """Detect the container of ``path`` and return a one-pass source of its records.

    Raises :class:`FileFormatError` (naming the file) when it cannot be opened, is empty, or is
    not a supported container. ``limits`` bound the decompressed size and the line length.
    """
    path = Path(path)
    limits = limits or ImportLimits()
    if path.is_dir():
        return DatasetDirSource(path)
    try:
        raw = open(path, "rb", buffering=0)  # noqa: SIM115 - the source owns and closes it
    except OSError as exc:
        raise FileFormatError(f"{path}: cannot open: {exc.strerror or exc}") from None
    try:
        source = _open_file(path, raw, limits)
    except BaseException:
        raw.close()
        raise
    source.limits = limits
    return source


def _open_file(path: Path, raw: io.FileIO, limits: ImportLimits) -> RecordSource:
    size = os.fstat(raw.fileno()).st_size
    compressed = raw.read(2) == _GZIP_MAGIC
    raw.seek(0)
    # A BufferedReader on top of GzipFile too: iterating lines through it is faster.
    stream: IO[bytes]
    if compressed:
        unpacked = CappedReader(
            gzip.GzipFile(fileobj=raw, mode="rb"), limits.max_decompressed_bytes
        )
        stream = io.BufferedReader(unpacked, CHUNK_SIZE)
    else:
        stream = io.BufferedReader(raw, CHUNK_SIZE)
    try:
        try:
            head, first_char = _sniff(stream)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileFormatError(f"{path}: cannot read: {exc}") from None
        if head.startswith(_PARQUET_MAGIC):
            source: RecordSource = _open_parquet(path, stream, raw, compressed)
        else:
            source = _open_text(path, stream, raw, size, head, first_char)
    except BaseException:
        stream.close()
        raise
    source.compressed = compressed
    return source


def _sniff(stream: IO[bytes]) -> tuple[bytes, bytes]:
    """The first chunk of the content, and its first non-blank byte (b"" if there is none).

    Leaves the stream at the start of the content, after any UTF-8 byte-order mark.
    """
    head = stream.read(CHUNK_SIZE)
    bom = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    chunk = head[bom:]
    # Whitespace-only chunks are dropped as they are read, so memory stays bounded.
    while chunk and not chunk.lstrip(_JSON_WHITESPACE):
        chunk = stream.read(CHUNK_SIZE)
    stream.seek(bom)
    return head, chunk.lstrip(_JSON_WHITESPACE)[:1]


def _open_text(
    path: Path, stream: IO[bytes], raw: IO[bytes], size: int, head: bytes, first_char: bytes
) -> RecordSource:
    if head.startswith(_GZIP_MAGIC):
        raise FileFormatError(f"{path}: gzip inside gzip is not supported")
    if head.startswith(_WIDE_BOMS):
        raise FileFormatError(f"{path}: UTF-16/UTF-32 text is not supported; save it as UTF-8")
    if not first_char:
        raise FileFormatError(f"{path}: the file is empty")
    if first_char == b"[":
        return JsonArraySource(path, stream, raw, size)
    if first_char == b"{":
        return JsonLinesSource(path, stream, raw, size)
    if b"\x00" in head or not _is_utf8(head):
        raise FileFormatError(f"{path}: unrecognised file format; expected {_SUPPORTED}")
    tab_separated = ".tsv" in path.suffixes[-2:]
    return CsvSource(path, stream, raw, size, delimiter="\t" if tab_separated else ",")


def _open_parquet(path: Path, stream: IO[bytes], raw: IO[bytes], compressed: bool) -> ParquetSource:
    """Parquet needs random access (its index is at the end), so a gzipped Parquet file is
    first decompressed, in chunks, to a temporary file that is deleted on close."""
    if not compressed:
        stream.close()
        return ParquetSource(path)
    stream.seek(0)
    handle, name = tempfile.mkstemp(prefix="trellis-", suffix=".parquet")
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(stream, out, CHUNK_SIZE)
        stream.close()
        raw.close()
        return ParquetSource(path, Path(name), delete_data=True)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _is_utf8(head: bytes) -> bool:
    try:
        # Incremental, so a character cut off at the end of the chunk is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
