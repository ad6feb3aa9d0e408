"""Limits that keep one upload from exhausting the worker's memory or disk.

Checked while streaming, never after: the decompressed size as bytes are read, the length of a
JSON line before it is decoded, and each record's nesting depth, string lengths and characters
before it is parsed. A record over a limit is one bad row (numbered like any other); a file
over the size or row limit stops the import with a message naming the setting.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class ImportLimits:
    max_decompressed_bytes: int = 20 * 1024**3
    max_line_bytes: int = 64 * 1024**2
    max_field_chars: int = 16 * 1024**2
    max_depth: int = 32
    max_rows: int = 10_000_000
    max_rejects_kept: int = 10_000


class LimitExceeded(Exception):
    """The file as a whole is over a limit; the message names the setting."""


def record_problem(record: Any, limits: ImportLimits) -> tuple[str, str] | None:
    """(field, message) for the first limit `record` breaks, else None.

    Nesting deeper than `max_depth`, a string longer than `max_field_chars`, or text holding a
    NUL character or a lone surrogate (neither can be stored as text)."""
    stack: list[tuple[str, Any, int]] = [("", record, 1)]
    max_chars, max_depth = limits.max_field_chars, limits.max_depth
    while stack:
        path, value, depth = stack.pop()
        if type(value) is str:
            if len(value) > max_chars:
                return path or "*", f"text longer than {max_chars:,} characters"
            if _BAD_CHAR.search(value):
                bad = _BAD_CHAR.search(value)
                what = "a NUL character" if bad and bad.group() == "\x00" else "a lone surrogate"
                return path or "*", f"text holds {what}"
        elif type(value) is dict or type(value) is list:
            if depth > max_depth:
                return path or "*", f"nested deeper than {max_depth} levels"
            items = value.items() if type(value) is dict else enumerate(value)
            for key, sub in items:
                if type(key) is str and _BAD_CHAR.search(key):
                    return path or "*", "a key holds a NUL character or a lone surrogate"
                stack.append((f"{path}.{key}" if path else str(key), sub, depth + 1))
    return None


class CappedReader(io.RawIOBase):
    """A raw stream that raises LimitExceeded once more than `max_bytes` have been read."""

    def __init__(self, inner: io.BufferedIOBase | io.RawIOBase | Any, max_bytes: int) -> None:
        self._inner = inner
        self._left = max_bytes
        self._max = max_bytes

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n: int = self._inner.readinto(buffer)
        self._left -= n
        if self._left < 0:
            raise LimitExceeded(
                f"the content is larger than {self._max:,} bytes once decompressed "
                "(TRELLIS_IMPORT_MAX_DECOMPRESSED_BYTES)"
            )
        return n

    def seekable(self) -> bool:
        return bool(self._inner.seekable())

    def seek(self, offset: int, whence: int = 0) -> int:
        position: int = self._inner.seek(offset, whence)
        self._left = self._max - position
        return position

    def close(self) -> None:
        self._inner.close()
        super().close()
