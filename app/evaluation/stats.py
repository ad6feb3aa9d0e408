"""Scores with their sample size and 95 % bootstrap intervals; paired differences.

Percentile bootstrap, seeded (``numpy.random.default_rng(seed)``), so a report is reproducible.
A difference between two models on the same items is resampled *paired* (the same resampled
items for both), and called real only when its interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Difference:
    """``a - b`` over paired items, with its interval; ``real`` when the interval excludes 0."""

    delta: float
    low: float
    high: float
    n: int

    @property
    def real(self) -> bool:
        return self.low > 0 or self.high < 0


def _resampled_means(
    values: np.ndarray, resamples: int, seed: int
) -> np.ndarray:  # shape (resamples,)
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, len(values), size=(resamples, len(values)))
    return values[indices].mean(axis=1)  # type: ignore[no-any-return]


def _bounds(means: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap(
    scores: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Estimate:
    """The mean of ``scores`` with a percentile-bootstrap interval."""
    values = np.asarray(scores, dtype=float)
    if values.size == 0:
        raise ValueError("cannot estimate a score from no items")
    low, high = _bounds(_resampled_means(values, resamples, seed), confidence)
    return Estimate(float(values.mean()), low, high, int(values.size))


def paired_bootstrap(
    first: Sequence[float],
    second: Sequence[float],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Difference:
    """``mean(first) - mean(second)`` with an interval from resampling items in pairs."""
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same items: {a.size} vs {b.size}")
    if a.size == 0:
        raise ValueError("cannot compare two models on no items")
    low, high = _bounds(_resampled_means(a - b, resamples, seed), confidence)
    return Difference(float(a.mean() - b.mean()), low, high, int(a.size))
