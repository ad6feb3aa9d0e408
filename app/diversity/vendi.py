"""The Vendi score (Friedman & Dieng, 2023) with the cosine kernel, in its dual form.

For unit rows X (n x d) the kernel K = X Xᵀ / n has the same non-zero eigenvalues as the
d x d matrix XᵀX / n, so VS = exp(-Σ λ log λ) costs one d x d eigendecomposition instead of an
n x n one.  VS runs from 1 (all items alike) to min(n, d) (that many orthogonal directions,
equally used); it is the effective number of distinct items.  Keeping the Gram matrix XᵀX lets
an edited row update it by two rank-one terms (:func:`replace_in_gram`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def gram(vectors: F32) -> F64:
    """XᵀX in float64 (d x d)."""
    x = np.asarray(vectors, dtype=np.float64)
    return x.T @ x


def vendi_from_gram(gram_matrix: F64, n: int) -> float:
    if n == 0:
        return 0.0
    eig = np.linalg.eigvalsh(gram_matrix / n)
    eig = eig[eig > 1e-12]
    p = eig / eig.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def vendi_score(vectors: F32) -> float:
    """The Vendi score of L2-normalised ``vectors`` under the cosine kernel."""
    return vendi_from_gram(gram(vectors), len(vectors))


def replace_in_gram(gram_matrix: F64, old: F32, new: F32) -> None:
    """XᵀX after one row changes from ``old`` to ``new``, in place."""
    o = np.asarray(old, dtype=np.float64)
    w = np.asarray(new, dtype=np.float64)
    gram_matrix -= np.outer(o, o)
    gram_matrix += np.outer(w, w)
