"""Readers for JSON Lines files and top-level JSON arrays."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator
from functools import partial
from typing import IO, Any

from app.formats.limits import LimitExceeded, record_problem
from app.formats.normalise import is_blank, kind
from app.formats.records import RowError
from app.formats.source_base import CHUNK_SIZE, ByteStreamSource, Row

_DECODER = json.JSONDecoder()
# The decoder's C scanner, called directly; typeshed does not declare the attribute.
_SCAN: Callable[[str, int], tuple[Any, int]] = vars(_DECODER)["scan_once"]
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's own definition; str.isspace() is broader
_SEPARATOR = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")
# Escapes of a NUL or a surrogate (raw bytes cannot hold either in valid JSON text).
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


class JsonLinesSource(ByteStreamSource):
    """One JSON object per line; blank lines are skipped, a bad line is reported and skipped."""

    unit = "line"
    container = "jsonl"
    prechecked = True

    def _records(self) -> Iterator[Row]:
        scan_once = _SCAN
        cap = self.limits.max_line_bytes
        max_chars, max_depth = self.limits.max_field_chars, self.limits.max_depth
        lines = iter(partial(self.stream.readline, cap + 1), b"")
        with self._reading():
            for number, line in enumerate(lines, 1):
                if len(line) > cap:  # never decoded: skip the rest of the line, unread
                    yield number, self._too_long(number, line, cap)
                    continue
                # Fast path: json's C scanner, called directly, skips json.loads's encoding
                # sniffing, whitespace handling and Python-level wrappers: about half the cost
                # of a line.  Anything unusual (leading spaces, blank lines, errors) takes the
                # careful path.
                try:
                    text = line.decode()
                    obj, end = scan_once(text, 0)
                except (ValueError, StopIteration, RecursionError):  # Stop...: no JSON value
                    obj = self._parse_slowly(number, line)
                else:
                    if end != len(text) and not text[end:].isspace():
                        obj = self._parse_slowly(number, line)
                if type(obj) is dict:
                    # Only a line that could break a limit is walked: cheap byte scans first.
                    if (
                        len(line) > max_chars
                        or line.count(b"{") + line.count(b"[") > max_depth
                        or _SUSPECT_ESCAPE.search(line)
                    ):
                        problem = record_problem(obj, self.limits)
                        if problem is not None:
                            yield number, self.error(number, *problem)
                            continue
                    yield number, obj
                elif obj is not None:
                    yield number, obj if type(obj) is RowError else self._not_object(number, obj)

    def _parse_slowly(self, number: int, line: bytes) -> Any:
        """The line's value, None for a blank line, or a RowError."""
        try:
            text = line.decode()
        except UnicodeDecodeError as exc:
            return self.error(number, "json", f"invalid UTF-8 (byte {exc.start + 1})")
        if is_blank(text):
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            return self.error(number, "json", f"invalid JSON: {exc.msg} (col {exc.colno})")
        except RecursionError:
            return self.error(number, "json", "nested too deeply to read")

    def _too_long(self, number: int, line: bytes, cap: int) -> RowError:
        """The error for a line longer than `cap` bytes, after skipping the rest of it."""
        while line and not line.endswith(b"\n"):
            line = self.stream.readline(CHUNK_SIZE)
        return self.error(
            number, "*", f"line longer than {cap:,} bytes (TRELLIS_IMPORT_MAX_LINE_BYTES)"
        )

    def _not_object(self, number: int, value: Any) -> RowError:
        return self.error(number, "json", f"expected a JSON object, got {kind(value)}")


class JsonArraySource(ByteStreamSource):
    """A top-level JSON array of objects, decoded incrementally.

    The file is read in chunks and each element decoded with json's scanner as soon as it is
    complete, so memory holds about one chunk plus the largest element.  A syntax error cannot
    be skipped (there is no telling where the next element starts), so it ends iteration.
    """

    unit = "record"
    container = "json"

    def _records(self) -> Iterator[Row]:
        text = _ChunkedText(self.stream, self.limits.max_line_bytes)
        with self._reading():
            pos = text.skip(0) + 1  # past the "[" that sniffing found
            number = 0
            while True:
                # Fast path: a separator and a whole object inside the window (an object cannot
                # parse unless it is complete).  Anything else -- the window's edge, the end of
                # the array, errors, non-objects -- goes the careful way below.
                buf = text.buf
                gap = (_SEPARATOR if number else _WHITESPACE).match(buf, pos)
                if gap is not None:
                    try:
                        value, end = _SCAN(buf, gap.end())
                    except (ValueError, StopIteration, IndexError):
                        value = None
                    if type(value) is dict:
                        number += 1
                        pos = end
                        yield number, value
                        continue
                start = self._next_element(text, pos, number)
                if not isinstance(start, int):  # the end of the array, or a syntax error
                    if start is not None:
                        yield number + 1, start
                    return
                number += 1
                try:
                    value, pos = text.decode(start)
                except json.JSONDecodeError as exc:
                    yield number, self._invalid(number, text, exc.pos, exc.msg)
                    return
                except UnicodeDecodeError as exc:
                    yield number, self.error(number, "json", f"invalid UTF-8: {exc.reason}")
                    return
                if type(value) is dict:
                    yield number, value
                else:
                    yield (
                        number,
                        self.error(number, "json", f"expected a JSON object, got {kind(value)}"),
                    )

    def _next_element(self, text: _ChunkedText, pos: int, number: int) -> int | RowError | None:
        """Where the element after ``number`` elements starts; None at a well-formed end of the
        array; a RowError when the array is malformed there."""
        pos = text.skip(pos)
        if pos >= len(text.buf):
            return self.error(number + 1, "json", "unexpected end of file inside the array")
        char = text.buf[pos]
        if char == "]":
            if text.skip(pos + 1) < len(text.buf):
                return self.error(number + 1, "json", "unexpected data after the array")
            return None
        if not number:
            return pos
        if char != ",":
            return self._invalid(number + 1, text, pos, "Expecting ',' delimiter")
        return text.skip(pos + 1)

    def _invalid(self, number: int, text: _ChunkedText, pos: int, message: str) -> RowError:
        line, col = text.line_col(pos)
        return self.error(number, "json", f"invalid JSON: {message} (line {line}, col {col})")


class _ChunkedText:
    """A sliding window of decoded text over a byte stream, with incremental JSON decoding."""

    # A decode error this close to the end of the window may just be a value cut off by the
    # chunk boundary ("tru", "\\u12"); further in, it is a real error.
    _TAIL = 64

    def __init__(self, stream: IO[bytes], max_chars: int) -> None:
        self.max_chars = max_chars
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.eof = False
        self._lines_before = 0  # newlines in the text already dropped from the window

    def _read(self, pos: int, at_least: int) -> int:
        """Drop ``buf[:pos]``, append at least ``at_least`` more bytes' worth; the new ``pos``."""
        self._lines_before += self.buf.count("\n", 0, pos)
        chunk = self._stream.read(max(at_least, CHUNK_SIZE))
        self.eof = not chunk
        self.buf = self.buf[pos:] + self._decoder.decode(chunk, final=self.eof)
        return 0

    def skip(self, pos: int) -> int:
        """Skip JSON whitespace from ``pos``, reading on as needed; len(buf) at the end."""
        while True:
            match = _WHITESPACE.match(self.buf, pos)
            pos = match.end() if match else pos
            if pos < len(self.buf) or self.eof:
                return pos
            pos = self._read(pos, 0)

    def decode(self, pos: int) -> tuple[Any, int]:
        """Decode the value starting at ``pos``: ``(value, end)``."""
        while True:
            try:
                try:
                    value, end = _SCAN(self.buf, pos)
                except StopIteration:
                    raise json.JSONDecodeError("Expecting value", self.buf, pos) from None
            except json.JSONDecodeError as exc:
                cut_off = exc.msg.startswith("Unterminated string") or (
                    exc.pos >= len(self.buf) - self._TAIL
                )
                if self.eof or not cut_off:
                    raise
            else:
                # A number ending exactly at the window's end may continue in the next chunk.
                if end < len(self.buf) or self.eof or isinstance(value, dict | list | str):
                    return value, end
            if len(self.buf) - pos > self.max_chars:
                raise LimitExceeded(
                    f"a record is longer than {self.max_chars:,} characters "
                    "(TRELLIS_IMPORT_MAX_LINE_BYTES)"
                )
            # Read as much again as is buffered, so a huge value costs O(n log n), not O(n^2).
            pos = self._read(pos, len(self.buf) - pos)

    def line_col(self, pos: int) -> tuple[int, int]:
        """1-based line and column in the file of window position ``pos``."""
        line = self._lines_before + self.buf.count("\n", 0, pos) + 1
        start = self.buf.rfind("\n", 0, pos)
        col = pos - start if start >= 0 else pos + 1  # approximate when the line began earlier
        return line, col
