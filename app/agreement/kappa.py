"""Agreement of two raters over nominal categories: percent agreement and Cohen's kappa
(Cohen, 1960), and both for every pair of raters of a set of units.

    kappa = (p_o - p_e) / (1 - p_e)

``p_o`` is the share of items both raters put in the same category; ``p_e`` the share expected
by chance from each rater's own category frequencies. Only items both raters labeled count.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Generic, TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Kappa:
    """``n`` items both raters labeled; ``agreement`` (0..1) and ``kappa``, or ``None`` with the
    ``reason`` when undefined."""

    n: int
    agreement: float | None
    kappa: float | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class RaterPair(Generic[R]):
    first: R
    second: R
    result: Kappa


def _shared(
    first: Sequence[Hashable | None], second: Sequence[Hashable | None]
) -> list[tuple[Hashable, Hashable]]:
    if len(first) != len(second):
        raise ValueError("both raters' sequences cover the same items, one entry per item")
    return [(a, b) for a, b in zip(first, second, strict=True) if a is not None and b is not None]


def percent_agreement(
    first: Sequence[Hashable | None], second: Sequence[Hashable | None]
) -> float | None:
    """The share of items (both labeled; ``None`` = not labeled) in the same category."""
    shared = _shared(first, second)
    if not shared:
        return None
    return sum(a == b for a, b in shared) / len(shared)


def cohen_kappa(
    first: Sequence[Hashable | None],
    second: Sequence[Hashable | None],
    categories: Sequence[Hashable] | None = None,
) -> Kappa:
    """Cohen's kappa of two raters' categories, item by item (``None`` = not labeled)."""
    shared = _shared(first, second)
    if not shared:
        return Kappa(0, None, None, "the two annotators share no labeled item")
    known = list(categories) if categories is not None else []
    labels = list(dict.fromkeys([*known, *(a for a, _ in shared), *(b for _, b in shared)]))
    index = {c: i for i, c in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for a, b in shared:
        table[index[a], index[b]] += 1
    n = len(shared)
    p_o = float(np.trace(table)) / n
    p_e = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2
    if p_e >= 1.0:
        return Kappa(
            n,
            p_o,
            None,
            "both annotators used one and the same category for every shared item, "
            "so agreement cannot be told apart from chance",
        )
    return Kappa(n, p_o, (p_o - p_e) / (1.0 - p_e))


def pairwise(
    units: Mapping[K, Mapping[R, Hashable]], categories: Sequence[Hashable] | None = None
) -> list[RaterPair[R]]:
    """Percent agreement and kappa for every pair of raters who share at least one unit, in
    the order the raters first appear."""
    raters = list(dict.fromkeys(r for values in units.values() for r in values))
    pairs: list[RaterPair[R]] = []
    for first, second in combinations(raters, 2):
        shared = [v for v in units.values() if first in v and second in v]
        if not shared:
            continue
        result = cohen_kappa([v[first] for v in shared], [v[second] for v in shared], categories)
        pairs.append(RaterPair(first, second, result))
    return pairs
