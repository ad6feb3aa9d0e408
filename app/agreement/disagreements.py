"""The units raters disagree on, for a reviewer to adjudicate."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Hashable)
V = TypeVar("V", bound=Hashable)

MIN_SPREAD = 2  # on a 1-5 scale, a 3 next to a 4 is noise; a 2 next to a 4 is a disagreement


@dataclass(frozen=True, slots=True)
class Disagreement(Generic[K, R, V]):
    """A unit and every rater's value; ``spread`` is max - min for ratings, ``None`` for
    categories."""

    unit: K
    values: Mapping[R, V]
    spread: int | None = None


def rating_disagreements(
    units: Mapping[K, Mapping[R, int]], min_spread: int = MIN_SPREAD
) -> list[Disagreement[K, R, int]]:
    """Units rated by two or more raters whose ratings lie ``min_spread`` or more apart, widest
    spread first (then in the given order)."""
    found = []
    for unit, values in units.items():
        if len(values) < 2:
            continue
        spread = max(values.values()) - min(values.values())
        if spread >= min_spread:
            found.append(Disagreement(unit, values, spread))
    found.sort(key=lambda d: -(d.spread or 0))
    return found


def category_disagreements(units: Mapping[K, Mapping[R, V]]) -> list[Disagreement[K, R, V]]:
    """Units labeled by two or more raters who did not all pick the same category."""
    return [
        Disagreement(unit, values)
        for unit, values in units.items()
        if len(values) >= 2 and len(set(values.values())) > 1
    ]
