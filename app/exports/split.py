"""Deterministic train/validation assignment, decided per row from its content hash.

``sha256(seed + ":" + content_hash)`` is read as a 64-bit integer and scaled to [0, 1); a row
goes to validation when that value is below ``validation_fraction``. The decision depends only
on the row itself and the seed, so adding or removing other rows never moves a row, and the
same seed always reproduces the same split.
"""

from __future__ import annotations

import hashlib
from typing import Literal

__all__ = ["Split", "Splitter", "split_of", "split_point"]

Split = Literal["train", "validation"]

_SCALE = float(2**64)


def split_point(content_hash: str, *, seed: str) -> float:
    """The row's position in [0, 1) for this seed."""
    return _point(f"{seed}:".encode(), content_hash)


def _point(prefix: bytes, content_hash: str) -> float:
    digest = hashlib.sha256(prefix + content_hash.encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def split_of(content_hash: str, *, validation_fraction: float, seed: str) -> Split:
    """``"validation"`` for about ``validation_fraction`` of rows, ``"train"`` for the rest."""
    return Splitter(validation_fraction=validation_fraction, seed=seed)(content_hash)


class Splitter:
    """``split_of`` with the seed and fraction fixed, for a million rows in a row: the same
    decision, without re-validating and re-encoding the seed for every row."""

    def __init__(self, *, validation_fraction: float, seed: str) -> None:
        if not 0.0 <= validation_fraction < 1.0:  # also rejects NaN
            raise ValueError("validation_fraction must be in [0, 1)")
        self._fraction = validation_fraction
        self._prefix = f"{seed}:".encode()

    def __call__(self, content_hash: str) -> Split:
        if self._fraction == 0.0:
            return "train"
        return "validation" if _point(self._prefix, content_hash) < self._fraction else "train"
