"""Nearest neighbours of unit vectors (cosine) and every pair above a threshold, in one pass.

Exact up to :data:`EXACT_LIMIT` items: the similarity matrix is computed in square fp32 blocks
with torch, only the blocks on and above the diagonal (it is symmetric, so each block serves its
rows and, transposed, its columns: half the multiply-adds).  Each block updates a running top-k
per row and yields the pairs at or above ``threshold``; a row's pairs are read off its block
top-k unless its k-th value already reaches the threshold, and only then is the block row
scanned.  Nothing n x n is ever held.

Above the limit (when ``usearch`` is installed) an HNSW index gives approximate neighbours; the
benchmark reports its recall@10 against the exact ones.  Pairs then come from each row's
:data:`APPROX_PAIR_K` approximate neighbours (exact cosines), so a row with more partners above
the threshold than that, or a partner the index misses, loses pairs: see ``Neighbours.exact``.

:func:`replace_row` updates everything exactly after one vector changes (an edited row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

K = 10
EXACT_LIMIT = 200_000
BLOCK = 2048
APPROX_PAIR_K = 32


@dataclass(slots=True)
class Pairs:
    """Pairs ``(left[m], right[m])`` with ``left < right`` and their cosine ``sims[m]``."""

    left: I64
    right: I64
    sims: F32

    @classmethod
    def empty(cls) -> Pairs:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32))

    def __len__(self) -> int:
        return len(self.left)

    def above(self, threshold: float) -> Pairs:
        """The pairs with cosine strictly above ``threshold``."""
        keep = self.sims > threshold
        return Pairs(self.left[keep], self.right[keep], self.sims[keep])

    def at_least(self, threshold: float) -> Pairs:
        keep = self.sims >= threshold
        return Pairs(self.left[keep], self.right[keep], self.sims[keep])

    def without(self, index: int) -> Pairs:
        keep = (self.left != index) & (self.right != index)
        return Pairs(self.left[keep], self.right[keep], self.sims[keep])

    def concat(self, other: Pairs) -> Pairs:
        return Pairs(
            np.concatenate([self.left, other.left]),
            np.concatenate([self.right, other.right]),
            np.concatenate([self.sims, other.sims]),
        )


@dataclass(slots=True)
class Neighbours:
    """Each row's ``min(k, n - 1)`` nearest other rows, most similar first."""

    indices: I64
    sims: F32
    pairs: Pairs
    """Every pair with cosine >= ``threshold`` (see the module note for the approximate case)."""
    threshold: float
    exact: bool


def neighbours(
    vectors: F32,
    k: int = K,
    threshold: float = 0.9,
    *,
    method: str = "auto",
    block: int = BLOCK,
) -> Neighbours:
    """Nearest neighbours of L2-normalised ``vectors``.

    ``method``: ``exact``, ``approximate`` (needs usearch) or ``auto`` (exact up to
    :data:`EXACT_LIMIT` rows or when usearch is missing).
    """
    if method not in ("auto", "exact", "approximate"):
        raise ValueError(f"unknown neighbour method {method!r}")
    if method == "approximate" or (
        method == "auto" and len(vectors) > EXACT_LIMIT and usearch_available()
    ):
        return approximate_neighbours(vectors, k, threshold)
    return exact_neighbours(vectors, k, threshold, block=block)


def usearch_available() -> bool:
    try:
        import usearch.index  # noqa: F401
    except ImportError:
        return False
    return True


def exact_neighbours(
    vectors: F32, k: int = K, threshold: float = 0.9, *, block: int = BLOCK
) -> Neighbours:
    import torch

    n = len(vectors)
    k = max(0, min(k, n - 1))
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    best_v = torch.full((n, k), -torch.inf)
    best_i = torch.full((n, k), -1, dtype=torch.int64)
    found: list[tuple[I64, I64, F32]] = []
    with torch.inference_mode():
        for a in range(0, n, block):
            rows = x[a : a + block]
            for b in range(a, n, block):
                # numpy's BLAS measured ~1.6x torch's fp32 matmul here; torch's topk is fast.
                sims = torch.from_numpy(rows @ x[b : b + block].T)
                if a == b:
                    sims.fill_diagonal_(-torch.inf)
                if k == 0:
                    continue
                v, i = torch.topk(sims, min(k, sims.shape[1]), dim=1)
                found.append(_block_pairs(sims, v[:, 0], a, b, threshold))
                _merge(best_v, best_i, a, v, i + b, k)
                if a != b:
                    # topk along rows of the transposed copy: faster than along dim 0.
                    v, i = torch.topk(sims.T.contiguous(), min(k, sims.shape[0]), dim=1)
                    _merge(best_v, best_i, b, v, i + a, k)
    pairs = Pairs(
        np.concatenate([f[0] for f in found]) if found else np.empty(0, np.int64),
        np.concatenate([f[1] for f in found]) if found else np.empty(0, np.int64),
        np.concatenate([f[2] for f in found]) if found else np.empty(0, np.float32),
    )
    return Neighbours(best_i.numpy(), best_v.numpy(), pairs, threshold, exact=True)


def _merge(
    best_v: torch.Tensor, best_i: torch.Tensor, start: int, v: torch.Tensor, i: torch.Tensor, k: int
) -> None:
    import torch

    stop = start + v.shape[0]
    all_v = torch.cat([best_v[start:stop], v], dim=1)
    all_i = torch.cat([best_i[start:stop], i], dim=1)
    top_v, pos = torch.topk(all_v, k, dim=1)
    best_v[start:stop] = top_v
    best_i[start:stop] = torch.gather(all_i, 1, pos)


def _block_pairs(
    sims: torch.Tensor, row_max: torch.Tensor, a: int, b: int, threshold: float
) -> tuple[I64, I64, F32]:
    """Pairs at or above ``threshold`` in one block (``j > i`` on the diagonal block).

    Every pair has its row in the block, so only rows whose maximum reaches the threshold are
    scanned: most blocks hold none.
    """
    import torch

    rows = torch.nonzero(row_max >= threshold).flatten()
    if not len(rows):
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    sub = sims[rows]
    r, c = torch.nonzero(sub >= threshold, as_tuple=True)
    left = rows[r] + a
    right = c + b
    values = sub[r, c]
    if a == b:  # the lower triangle holds the same pairs mirrored
        upper = right > left
        left, right, values = left[upper], right[upper], values[upper]
    return (
        left.numpy().astype(np.int64),
        right.numpy().astype(np.int64),
        values.numpy().astype(np.float32),
    )


def approximate_neighbours(vectors: F32, k: int = K, threshold: float = 0.9) -> Neighbours:
    """Neighbours from a usearch HNSW index (inner product on unit vectors = cosine)."""
    index = build_index(vectors)
    n = len(vectors)
    k = max(0, min(k, n - 1))
    want = min(max(k, APPROX_PAIR_K) + 1, n)
    keys, sims = search(index, vectors, want)
    # Drop each row itself (usually first; not always, when duplicates tie with it).
    own = keys == np.arange(n)[:, None]
    keys = np.where(own, -1, keys)
    sims = np.where(own | (keys < 0), -np.inf, sims).astype(np.float32)
    order = np.argsort(-sims, axis=1, kind="stable")
    keys = np.take_along_axis(keys, order, axis=1)
    sims = np.take_along_axis(sims, order, axis=1)
    left = np.repeat(np.arange(n, dtype=np.int64), keys.shape[1])
    right = keys.ravel()
    keep = (right >= 0) & (sims.ravel() >= threshold)
    lo = np.minimum(left[keep], right[keep])
    hi = np.maximum(left[keep], right[keep])
    code = np.unique(lo * n + hi)
    lo, hi = code // n, code % n
    exact_sims = np.einsum("ij,ij->i", vectors[lo], vectors[hi]).astype(np.float32)
    keep2 = exact_sims >= threshold
    pairs = Pairs(lo[keep2], hi[keep2], exact_sims[keep2])
    return Neighbours(keys[:, :k].copy(), sims[:, :k].copy(), pairs, threshold, exact=False)


def build_index(vectors: F32) -> object:
    from usearch.index import Index

    index = Index(
        ndim=vectors.shape[1],
        metric="ip",
        dtype="f32",
        connectivity=16,
        expansion_add=128,
        expansion_search=128,
    )
    index.add(np.arange(len(vectors), dtype=np.uint64), np.ascontiguousarray(vectors))
    return index


def search(index: object, queries: F32, count: int) -> tuple[I64, F32]:
    """``count`` approximate neighbours of each query: keys (-1 where fewer) and cosines."""
    from usearch.index import BatchMatches, Index

    assert isinstance(index, Index)
    found = index.search(np.ascontiguousarray(queries), count)
    assert isinstance(found, BatchMatches)
    keys = found.keys.astype(np.int64)
    counts = found.counts
    valid = np.arange(keys.shape[1])[None, :] < counts[:, None]
    keys = np.where(valid, keys, -1)
    sims = np.where(valid, 1.0 - found.distances, -np.inf).astype(np.float32)
    return keys, sims


def recall_at_k(approx: I64, exact: I64) -> float:
    """Share of each row's exact k nearest that the approximate lists hold (mean over rows)."""
    if not exact.size:
        return 1.0
    hits = sum(len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx, exact, strict=True))
    return hits / exact.size


def replace_row(nb: Neighbours, vectors: F32, index: int) -> I64:
    """Update ``nb`` after ``vectors[index]`` changed (``vectors`` already holds the new one).

    Exact: the row's own list is recomputed; rows that listed it are recomputed in full (it may
    have moved away); other rows take it in where it now beats their k-th.  Pairs touching the
    row are replaced.  Returns the rows whose lists changed (the row itself included).
    """
    k = nb.indices.shape[1]
    sims = vectors @ vectors[index]
    sims[index] = -np.inf
    changed = {index}
    if k:
        top = _top_k(sims[None, :], k)[0]
        nb.indices[index], nb.sims[index] = top, sims[top]
        listed = np.flatnonzero((nb.indices == index).any(axis=1))
        listed = listed[listed != index]
        for start in range(0, len(listed), 1024):
            rows = listed[start : start + 1024]
            full = vectors[rows] @ vectors.T
            full[np.arange(len(rows)), rows] = -np.inf
            top2 = _top_k(full, k)
            new_sims = np.take_along_axis(full, top2, axis=1)
            moved = (top2 != nb.indices[rows]).any(axis=1) | (new_sims != nb.sims[rows]).any(axis=1)
            nb.indices[rows], nb.sims[rows] = top2, new_sims
            changed.update(rows[moved].tolist())
        others = np.flatnonzero(sims > nb.sims[:, -1])
        others = others[(others != index) & ~np.isin(others, listed)]
        for row in others.tolist():
            pos = int(np.searchsorted(-nb.sims[row], -sims[row], side="right"))
            nb.indices[row, pos + 1 :] = nb.indices[row, pos:-1].copy()
            nb.sims[row, pos + 1 :] = nb.sims[row, pos:-1].copy()
            nb.indices[row, pos], nb.sims[row, pos] = index, sims[row]
            changed.add(row)
    partners = np.flatnonzero(sims >= nb.threshold)
    fresh = Pairs(
        np.minimum(partners, index).astype(np.int64),
        np.maximum(partners, index).astype(np.int64),
        sims[partners].astype(np.float32),
    )
    nb.pairs = nb.pairs.without(index).concat(fresh)
    return np.array(sorted(changed), dtype=np.int64)


def _top_k(sims: F32, k: int) -> I64:
    """Column indices of each row's ``k`` largest values, largest first."""
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int64)
