"""A 2D map of the embeddings: PCA by default; UMAP on request when ``umap-learn`` is installed.

PCA is two eigenvectors of the d x d covariance (fast at any n); signs are fixed so the
largest loading of each axis is positive, so the same data always draws the same map.  UMAP
keeps local neighbourhoods better but takes minutes at 50,000 rows on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def umap_available() -> bool:
    try:
        import umap  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(slots=True)
class Projection:
    coords: F32
    """(n, 2)"""
    method: str
    mean: F32
    components: F32
    """(d, 2) PCA axes (zeros for UMAP)."""

    def project(self, vector: F32) -> F32:
        """Map coordinates of a new vector (PCA only; UMAP maps need a refit)."""
        return ((vector - self.mean) @ self.components).astype(np.float32)


def project_2d(vectors: F32, method: str = "pca", *, seed: int = 0) -> Projection:
    """2D coordinates for ``vectors`` with ``pca`` or ``umap``."""
    n, d = vectors.shape
    if method not in ("pca", "umap"):
        raise ValueError(f"unknown projection {method!r}; use pca or umap")
    if method == "umap":
        if not umap_available():
            raise ValueError("the umap projection needs umap-learn installed")
        import umap  # type: ignore[import-not-found, unused-ignore]

        reducer = umap.UMAP(n_components=2, metric="cosine", random_state=seed)
        coords = np.asarray(reducer.fit_transform(vectors), dtype=np.float32)
        return Projection(coords, "umap", np.zeros(d, np.float32), np.zeros((d, 2), np.float32))
    if n == 0:
        return Projection(np.zeros((0, 2), np.float32), "pca", np.zeros(d, np.float32),
                          np.zeros((d, 2), np.float32))  # fmt: skip
    x = np.asarray(vectors, dtype=np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / max(n - 1, 1)
    _, vecs = np.linalg.eigh(cov)
    axes = vecs[:, ::-1][:, :2]
    signs = np.sign(axes[np.argmax(np.abs(axes), axis=0), [0, 1]])
    signs[signs == 0] = 1.0
    axes = axes * signs
    coords = (centred @ axes).astype(np.float32)
    return Projection(coords, "pca", mean.astype(np.float32), axes.astype(np.float32))
