"""Loss curves as inline SVG geometry: pure, no web or database imports.

`chart(series)` scales every series (step on x, value on y) into one viewBox and returns
polyline points and axis ticks; the template draws them (as app/dashboard/charts.py does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 10, 28
COLOURS = ("#2563eb", "#f59e0b", "#16a34a", "#dc2626")


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[float, float]]
    dashed: bool = False


@dataclass(frozen=True)
class Line:
    label: str
    points: str  # "x,y x,y …" for <polyline points>
    colour: str
    dashed: bool
    last: tuple[float, float] | None  # the last (step, value), for the legend


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    lines: list[Line]
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    description: str = ""

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)


def loss_series(rows: Iterable[Mapping[str, Any]], prefix: str = "") -> list[Series]:
    """Train loss and eval loss against step, from metric rows."""
    train: list[tuple[float, float]] = []
    evals: list[tuple[float, float]] = []
    for row in rows:
        step = row.get("step")
        if not isinstance(step, int | float):
            continue
        loss, eval_loss = row.get("loss"), row.get("eval_loss")
        if isinstance(loss, int | float) and math.isfinite(loss):
            train.append((float(step), float(loss)))
        if isinstance(eval_loss, int | float) and math.isfinite(eval_loss):
            evals.append((float(step), float(eval_loss)))
    return [Series(f"{prefix}train loss", train), Series(f"{prefix}eval loss", evals, dashed=True)]


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / count for i in range(count + 1)]


def _label(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.3g}"


def chart(series: Sequence[Series], colours: Sequence[str] = COLOURS) -> Chart:
    points = [p for s in series for p in s.points]
    if not points:
        empty = [Line(s.label, "", colours[i % len(colours)], s.dashed, None)
                 for i, s in enumerate(series)]  # fmt: skip
        return Chart(WIDTH, HEIGHT, empty, description="no points yet")
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(p[1] for p in points), max(p[1] for p in points)
    y_low = min(0.0, y_low)
    if x_high == x_low:
        x_high = x_low + 1
    if y_high == y_low:
        y_high = y_low + 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(value: float) -> float:
        return round(LEFT + (value - x_low) / (x_high - x_low) * plot_w, 1)

    def y(value: float) -> float:
        return round(TOP + (1 - (value - y_low) / (y_high - y_low)) * plot_h, 1)

    lines = [
        Line(s.label, " ".join(f"{x(a)},{y(b)}" for a, b in s.points), colours[i % len(colours)],
             s.dashed, s.points[-1] if s.points else None)
        for i, s in enumerate(series)
    ]  # fmt: skip
    parts = [f"{line.label} {line.last[1]:.4g} at step {line.last[0]:.0f}"
             for line in lines if line.last]  # fmt: skip
    return Chart(
        WIDTH, HEIGHT, lines,
        x_ticks=[(x(v), _label(v)) for v in _ticks(x_low, x_high)],
        y_ticks=[(y(v), _label(v)) for v in _ticks(y_low, y_high)],
        description="; ".join(parts),
    )  # fmt: skip
