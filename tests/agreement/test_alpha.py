"""Krippendorff's alpha against the reference `krippendorff` package and the textbook."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest

from app.agreement.alpha import (
    Level,
    alpha,
    alpha_for_units,
    coincidences,
    reliability_data,
    value_counts,
)

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with four
# observers, twelve units and missing values: ordinal alpha 0.815.
TEXTBOOK = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
# Three coders, fifteen units (Wikipedia's example): nominal 0.691, interval 0.811.
THREE_CODERS = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]


def reference(data: np.ndarray | list[list[float]], level: Level) -> float:
    return float(krippendorff.alpha(reliability_data=data, level_of_measurement=level))


def test_textbook_example_ordinal() -> None:
    result = alpha(TEXTBOOK, "ordinal")
    assert result.value is not None
    assert round(result.value, 3) == 0.815
    assert result.value == pytest.approx(reference(TEXTBOOK, "ordinal"), abs=1e-12)
    # unit 12 (one value) drops out: 11 pairable units with 40 values from all 4 observers
    assert (result.units, result.values, result.raters) == (11, 40, 4)
    assert result.reason is None


def test_textbook_coincidence_matrix() -> None:
    """The published coincidence matrix's marginals: n_1..n_5 = 9, 13, 10, 5, 3 (n = 40)."""
    domain = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    o = coincidences(value_counts(TEXTBOOK, domain))
    assert np.allclose(o, o.T)
    assert np.allclose(o.sum(axis=0), [9, 13, 10, 5, 3])
    assert o[0, 0] == pytest.approx(7.0)
    assert o[0, 1] == pytest.approx(4 / 3)


@pytest.mark.parametrize(
    ("level", "expected"), [("nominal", 0.691358), ("interval", 0.810845), ("ordinal", None)]
)
def test_three_coder_example(level: Level, expected: float | None) -> None:
    result = alpha(THREE_CODERS, level)
    assert result.value is not None
    if expected is not None:
        assert round(result.value, 6) == expected
    assert result.value == pytest.approx(reference(THREE_CODERS, level), abs=1e-12)
    assert result.raters == 3


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("level", ["ordinal", "nominal", "interval"])
def test_random_data_with_missing_values_matches_the_reference(seed: int, level: Level) -> None:
    rng = np.random.default_rng(seed)
    raters, units = int(rng.integers(2, 7)), int(rng.integers(5, 80))
    data = rng.integers(1, 6, size=(raters, units)).astype(float)
    data[rng.random(data.shape) < rng.uniform(0.1, 0.6)] = np.nan
    if (~np.isnan(data)).sum(axis=0).max() < 2 or len(np.unique(data[~np.isnan(data)])) < 2:
        pytest.skip("this draw has nothing pairable")
    ours = alpha(data, level).value
    assert ours is not None
    assert ours == pytest.approx(reference(data, level), abs=1e-9)


def test_units_with_one_value_do_not_change_alpha() -> None:
    base = alpha(TEXTBOOK, "ordinal")
    extra = np.hstack([np.array(TEXTBOOK), [[5.0], [NAN], [NAN], [NAN]]])
    with_single = alpha(extra, "ordinal")
    assert with_single.value == pytest.approx(base.value, abs=1e-12)
    assert with_single.units == base.units


def test_no_pairable_values_gives_none_with_a_reason() -> None:
    result = alpha([[1, NAN, 3], [NAN, 2, NAN]], "ordinal")
    assert result.value is None
    assert result.units == 0
    assert result.reason is not None and "two or more" in result.reason
    empty = alpha_for_units({})
    assert empty.value is None and empty.reason


def test_all_the_same_value_gives_none_with_a_reason() -> None:
    result = alpha([[4, 4, 4], [4, 4, NAN]], "ordinal")
    assert result.value is None
    assert result.units == 2
    assert result.reason is not None and "same value" in result.reason


def test_perfect_and_systematic_disagreement() -> None:
    assert alpha([[1, 2, 3, 4], [1, 2, 3, 4]], "ordinal").value == pytest.approx(1.0)
    opposite = alpha([[1, 5, 1, 5], [5, 1, 5, 1]], "ordinal").value
    assert opposite is not None and opposite < 0


def test_units_mapping_matches_the_matrix() -> None:
    units = {
        f"u{col}": {
            f"r{row}": TEXTBOOK[row][col]
            for row in range(4)
            if TEXTBOOK[row][col] == TEXTBOOK[row][col]
        }
        for col in range(12)
    }
    data, raters, items = reliability_data(units)
    assert raters == ["r0", "r1", "r3", "r2"]  # in order of first appearance
    assert items[0] == "u0"
    assert data.shape == (4, 12)
    result = alpha_for_units(units, "ordinal")
    assert result.value == pytest.approx(reference(TEXTBOOK, "ordinal"), abs=1e-12)
    assert result.raters == 4


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="raters x units"):
        alpha([1, 2, 3])
