"""Geometry for the dashboard's inline SVG charts, so templates only place shapes.

Stacked bars use a 0-100 wide viewBox (x and width are percentages of the bar); histograms a
0-100 high one. Every shape keeps its count and label for the accessible text around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BAR_HEIGHT = 100.0


@dataclass(frozen=True, slots=True)
class Segment:
    key: str
    label: str
    count: int
    percent: float
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    percent: float  # of all counts in the chart
    height: float  # of the tallest bar, 0-100
    y: float


def stacked(parts: Sequence[tuple[str, str, int]]) -> list[Segment]:
    """(key, label, count) as segments of one 100-wide bar; empty parts get no width."""
    total = sum(count for _, _, count in parts)
    segments: list[Segment] = []
    x = 0.0
    for key, label, count in parts:
        width = 100.0 * count / total if total else 0.0
        segments.append(Segment(key, label, count, width, round(x, 4), round(width, 4)))
        x += width
    return segments


def bars(parts: Sequence[tuple[str, int]]) -> list[Bar]:
    """(label, count) as bars scaled to the tallest one."""
    total = sum(count for _, count in parts)
    tallest = max((count for _, count in parts), default=0)
    found = []
    for label, count in parts:
        height = BAR_HEIGHT * count / tallest if tallest else 0.0
        share = 100.0 * count / total if total else 0.0
        found.append(Bar(label, count, share, round(height, 4), round(BAR_HEIGHT - height, 4)))
    return found


def describe(title: str, parts: Sequence[tuple[str, int]]) -> str:
    """One sentence with every number, for the chart's title and aria-label."""
    total = sum(count for _, count in parts)
    listed = ", ".join(f"{label} {count:,}" for label, count in parts)
    return f"{title}: {listed} (total {total:,})"
