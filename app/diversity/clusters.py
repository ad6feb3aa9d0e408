"""Topic clusters: seeded spherical k-means on unit vectors.

k follows the common rule of thumb k = sqrt(n / 2), at least 1 and at most
:data:`MAX_CLUSTERS` (so 1,500 items get 27 clusters, 50,000 get 158).  Seeding is k-means++ on a
sample of at most :data:`SEED_SAMPLE` rows; Lloyd iterations assign by the largest cosine to the
unit-length centroids, in chunked matrix products.  An emptied cluster restarts at the row that
fits its own cluster worst.  Clusters are numbered by size, largest first; the same vectors and
seed give the same clusters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

MAX_CLUSTERS = 512
SEED_SAMPLE = 20_000
MAX_ITER = 30
CHUNK = 8192


def choose_k(n: int) -> int:
    """The number of clusters for ``n`` items: round(sqrt(n / 2)) within [1, MAX_CLUSTERS]."""
    if n <= 0:
        return 0
    return max(1, min(MAX_CLUSTERS, n, round(math.sqrt(n / 2))))


@dataclass(slots=True)
class Clusters:
    labels: I64
    centroids: F32
    """(k, d), unit length."""
    similarity: F32
    """Each row's cosine to its centroid."""

    @property
    def sizes(self) -> I64:
        return np.bincount(self.labels, minlength=len(self.centroids)).astype(np.int64)

    def nearest(self, vector: F32) -> tuple[int, float]:
        """The cluster whose centroid is closest to ``vector``, and that cosine."""
        sims = self.centroids @ vector
        best = int(np.argmax(sims))
        return best, float(sims[best])

    def representatives(self, cluster: int, count: int = 3) -> list[int]:
        """The rows of ``cluster`` closest to its centroid."""
        rows = np.flatnonzero(self.labels == cluster)
        order = np.argsort(-self.similarity[rows], kind="stable")[:count]
        return [int(r) for r in rows[order]]


def kmeans(
    vectors: F32, k: int | None = None, *, seed: int = 0, max_iter: int = MAX_ITER
) -> Clusters:
    n, d = vectors.shape
    k = choose_k(n) if k is None else max(1, min(k, n))
    if n == 0:
        return Clusters(
            np.empty(0, np.int64), np.empty((0, d), np.float32), np.empty(0, np.float32)
        )
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    centroids = _plus_plus(x, k, rng)
    labels, sims = _assign(x, centroids)
    for _ in range(max_iter):
        centroids = _update(x, labels, sims, k)
        new_labels, sims = _assign(x, centroids)
        if np.array_equal(new_labels, labels):
            break
        labels = new_labels
    # Number clusters by size, largest first (ties: by smallest member, for stable output).
    sizes = np.bincount(labels, minlength=k)
    first = np.full(k, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    order = np.lexsort((first, -sizes))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return Clusters(rank[labels], centroids[order], sims)


def _plus_plus(x: F32, k: int, rng: np.random.Generator) -> F32:
    """k-means++ seeding on a sample, with cosine distance."""
    n = len(x)
    sample = x if n <= SEED_SAMPLE else x[np.sort(rng.choice(n, SEED_SAMPLE, replace=False))]
    chosen = [int(rng.integers(len(sample)))]
    dist = np.maximum(1.0 - sample @ sample[chosen[0]], 0.0).astype(np.float64)
    for _ in range(1, k):
        weights = dist**2
        total = weights.sum()
        if total <= 0:  # fewer distinct points than k: take any not yet chosen
            free = np.setdiff1d(np.arange(len(sample)), chosen)
            pick = int(free[0]) if len(free) else int(rng.integers(len(sample)))
        else:
            pick = int(rng.choice(len(sample), p=weights / total))
        chosen.append(pick)
        dist = np.minimum(dist, np.maximum(1.0 - sample @ sample[pick], 0.0))
    return np.ascontiguousarray(sample[chosen], dtype=np.float32)


def _assign(x: F32, centroids: F32) -> tuple[I64, F32]:
    labels = np.empty(len(x), dtype=np.int64)
    sims = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), CHUNK):
        block = x[start : start + CHUNK] @ centroids.T
        labels[start : start + CHUNK] = np.argmax(block, axis=1)
        sims[start : start + CHUNK] = block[np.arange(len(block)), labels[start : start + CHUNK]]
    return labels, sims


def _update(x: F32, labels: I64, sims: F32, k: int) -> F32:
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    present, starts = np.unique(sorted_labels, return_index=True)
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    sums[present] = np.add.reduceat(x[order], starts, axis=0)
    empty = np.setdiff1d(np.arange(k), present)
    if len(empty):
        # Restart each empty cluster at a row its cluster fits worst (distinct rows).
        worst = np.argsort(sims, kind="stable")[: len(empty)]
        sums[empty] = x[worst]
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: F32 = (sums / norms).astype(np.float32)
    return out
