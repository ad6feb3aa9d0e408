"""Deterministic per-row train/validation split."""

from __future__ import annotations

import hashlib
import math

import pytest

from app.exports.split import Splitter, split_of, split_point


def hashes(n: int, start: int = 0) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(start, start + n)]


def test_deterministic() -> None:
    for h in hashes(200):
        first = split_of(h, validation_fraction=0.3, seed="s")
        assert first in ("train", "validation")
        assert split_of(h, validation_fraction=0.3, seed="s") == first


def test_fraction_within_tolerance() -> None:
    rows = hashes(10_000)
    validation = sum(
        split_of(h, validation_fraction=0.1, seed="proj-1") == "validation" for h in rows
    )
    assert 850 <= validation <= 1150


def test_zero_fraction_is_all_train() -> None:
    assert all(split_of(h, validation_fraction=0.0, seed="x") == "train" for h in hashes(1000))


def test_adding_rows_does_not_move_existing_ones() -> None:
    existing = hashes(500)
    before = {h: split_of(h, validation_fraction=0.2, seed="s") for h in existing}
    for h in hashes(500, start=500):  # unrelated new rows
        split_of(h, validation_fraction=0.2, seed="s")
    assert {h: split_of(h, validation_fraction=0.2, seed="s") for h in existing} == before


def test_seed_changes_assignment() -> None:
    rows = hashes(1000)
    a = [split_of(h, validation_fraction=0.5, seed="a") for h in rows]
    b = [split_of(h, validation_fraction=0.5, seed="b") for h in rows]
    assert a != b


def test_larger_fraction_only_adds_validation_rows() -> None:
    for h in hashes(1000):
        if split_of(h, validation_fraction=0.1, seed="s") == "validation":
            assert split_of(h, validation_fraction=0.3, seed="s") == "validation"


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, math.nan])
def test_invalid_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="validation_fraction"):
        split_of("abc", validation_fraction=fraction, seed="s")


@pytest.mark.parametrize("seed", ["s", "proj-1", "sé€d:with:colons"])
@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.5, 0.95])
def test_splitter_matches_split_point(seed: str, fraction: float) -> None:
    split = Splitter(validation_fraction=fraction, seed=seed)
    for h in hashes(2000):
        expected = "validation" if fraction and split_point(h, seed=seed) < fraction else "train"
        assert split(h) == expected
