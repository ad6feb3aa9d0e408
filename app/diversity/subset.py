"""A diverse subset, DEITA style (Liu et al., 2024): best items first, each kept only when it is
not too close to anything kept before.

Items are ordered by quality (rating, highest first, unrated last; then a configurable score,
highest first; then their position), and an item is kept when its largest cosine to the items
already kept is <= τ, until ``target`` items are kept.  The check is exact and cheap: an item can
only be blocked by a partner above τ, and the neighbour pass already lists every pair at or
above its threshold (which must not exceed τ), so each step looks at that item's few partners
instead of the whole kept set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from app.diversity.neighbours import Pairs

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]

TAU = 0.9


def quality_order(
    n: int,
    ratings: Sequence[float | None] | None = None,
    scores: Sequence[float | None] | None = None,
) -> I64:
    """Row positions best first: rating desc (None last), then score desc (None last), then row."""

    def key(values: Sequence[float | None] | None) -> tuple[npt.NDArray[np.float64], ...]:
        if values is None:
            return (np.zeros(n), np.zeros(n))
        missing = np.array([v is None for v in values], dtype=np.float64)
        value = np.array([0.0 if v is None else -float(v) for v in values], dtype=np.float64)
        return (value, missing)

    rating_value, rating_missing = key(ratings)
    score_value, score_missing = key(scores)
    # np.lexsort sorts by the last key first.
    order = np.lexsort((np.arange(n), score_value, score_missing, rating_value, rating_missing))
    return order.astype(np.int64)


def diverse_subset(
    order: I64,
    pairs: Pairs,
    pairs_threshold: float,
    *,
    tau: float = TAU,
    target: int | None = None,
) -> I64:
    """Rows kept, in the order they were chosen.

    ``pairs`` must hold every pair with cosine >= ``pairs_threshold`` (<= ``tau``).
    """
    if pairs_threshold > tau:
        raise ValueError(
            f"the pairs start at cosine {pairs_threshold}, above tau {tau}: "
            "re-run the neighbour pass with threshold <= tau"
        )
    n = len(order)
    close = pairs.above(tau)
    # CSR adjacency of the pairs above tau.
    ends = np.concatenate([close.left, close.right])
    others = np.concatenate([close.right, close.left])
    by_row = np.argsort(ends, kind="stable")
    partners = others[by_row]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ends, minlength=n), out=offsets[1:])
    kept_mask = np.zeros(n, dtype=bool)
    kept: list[int] = []
    limit = n if target is None else max(0, target)
    for row in order.tolist():
        if len(kept) >= limit:
            break
        lo, hi = offsets[row], offsets[row + 1]
        if hi > lo and kept_mask[partners[lo:hi]].any():
            continue
        kept_mask[row] = True
        kept.append(row)
    return np.array(kept, dtype=np.int64)


def max_similarity_within(vectors: F32, rows: I64, chunk: int = 4096) -> float:
    """The largest cosine between two different ``rows`` (-1 when fewer than two): a check."""
    x = vectors[rows]
    best = -1.0
    for start in range(0, len(x), chunk):
        sims = x[start : start + chunk] @ x.T
        idx = np.arange(len(sims))
        sims[idx, idx + start] = -np.inf
        if sims.size:
            best = max(best, float(sims.max()))
    return best
