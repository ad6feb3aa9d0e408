"""Matching spans as highlighted text, safely.

Flags store character spans ``[start, end]`` into a text. The page shows the text with those
runs marked; :func:`segments` cuts the text into plain and marked pieces (spans may overlap,
come in any order, run past the text or be malformed: they are clamped, merged or skipped), and
:func:`to_html` escapes every piece before wrapping the marked ones in ``<mark>``, so user text
never reaches the page unescaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from markupsafe import Markup, escape

Segment = tuple[str, bool]
"""(text, is_mark)"""


def merged_spans(spans: Iterable[Any], length: int) -> list[tuple[int, int]]:
    """The spans clamped to ``[0, length]``, empty or malformed ones dropped, sorted, and
    overlapping or touching ones merged."""
    clean: list[tuple[int, int]] = []
    for span in spans:
        if not isinstance(span, Sequence) or isinstance(span, str) or len(span) != 2:
            continue
        start, end = span
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            continue
        start, end = max(start, 0), min(end, length)
        if start < end:
            clean.append((start, end))
    clean.sort()
    merged: list[tuple[int, int]] = []
    for start, end in clean:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def segments(text: str, spans: Iterable[Any]) -> list[Segment]:
    """``text`` cut into consecutive (piece, is_mark) segments; joined they give ``text``."""
    out: list[Segment] = []
    position = 0
    for start, end in merged_spans(spans, len(text)):
        if start > position:
            out.append((text[position:start], False))
        out.append((text[start:end], True))
        position = end
    if position < len(text):
        out.append((text[position:], False))
    return out


def to_html(pieces: Iterable[Segment]) -> Markup:
    """Every piece escaped; marked pieces wrapped in ``<mark>``."""
    return Markup("").join(
        Markup("<mark>{}</mark>").format(piece) if is_mark else escape(piece)
        for piece, is_mark in pieces
    )


def highlight(text: str, spans: Iterable[Any]) -> Markup:
    return to_html(segments(text, spans))
