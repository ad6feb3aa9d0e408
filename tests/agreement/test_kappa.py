"""Percent agreement and Cohen's kappa, checked by hand."""

from __future__ import annotations

import pytest

from app.agreement.kappa import cohen_kappa, pairwise, percent_agreement


def wikipedia_50() -> tuple[list[str], list[str]]:
    """Wikipedia's example: 50 proposals, A and B said yes/yes 20, yes/no 5, no/yes 10,
    no/no 15. p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = 0.4."""
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    pairs += [("no", "no")] * 15
    return [a for a, _ in pairs], [b for _, b in pairs]


def test_wikipedia_example() -> None:
    a, b = wikipedia_50()
    result = cohen_kappa(a, b)
    assert result.n == 50
    assert result.agreement == pytest.approx(0.7)
    assert result.kappa == pytest.approx(0.4)
    assert percent_agreement(a, b) == pytest.approx(0.7)


def test_three_categories_by_hand() -> None:
    """chosen/rejected/tie, 10 items. Table (rows A, columns B):
    chosen   [4, 1, 0]
    rejected [0, 2, 1]
    tie      [1, 0, 1]
    p_o = 7/10; marginals A 5,3,2 and B 5,3,2; p_e = (25 + 9 + 4) / 100 = 0.38;
    kappa = (0.7 - 0.38) / 0.62."""
    pairs = [("chosen", "chosen")] * 4 + [("chosen", "rejected")] + [("rejected", "rejected")] * 2
    pairs += [("rejected", "tie"), ("tie", "chosen"), ("tie", "tie")]
    result = cohen_kappa([a for a, _ in pairs], [b for _, b in pairs])
    assert result.agreement == pytest.approx(0.7)
    assert result.kappa == pytest.approx(0.32 / 0.62)


def test_missing_labels_are_left_out() -> None:
    a = ["chosen", None, "tie", "chosen"]
    b = ["chosen", "tie", None, "rejected"]
    result = cohen_kappa(a, b)
    assert result.n == 2
    assert result.agreement == pytest.approx(0.5)
    assert percent_agreement(a, b) == pytest.approx(0.5)


def test_undefined_cases_have_reasons() -> None:
    none = cohen_kappa([None, "tie"], ["chosen", None])
    assert (none.n, none.agreement, none.kappa) == (0, None, None)
    assert none.reason is not None
    assert percent_agreement([None], ["tie"]) is None
    same = cohen_kappa(["chosen"] * 4, ["chosen"] * 4)
    assert same.agreement == 1.0 and same.kappa is None
    assert same.reason is not None and "same category" in same.reason
    # one rater constant, the other not: p_e < 1 and kappa is 0 (no better than chance)
    mixed = cohen_kappa(["chosen"] * 4, ["chosen", "chosen", "rejected", "tie"])
    assert mixed.kappa == pytest.approx(0.0)
    with pytest.raises(ValueError, match="same items"):
        cohen_kappa(["chosen"], [])


def test_pairwise_covers_every_rater_pair_that_shares_units() -> None:
    a, b = wikipedia_50()
    units: dict[int, dict[str, str]] = {
        i: {"ann": x, "bob": y} for i, (x, y) in enumerate(zip(a, b, strict=True))
    }
    units[100] = {"ann": "yes", "cat": "no"}
    units[101] = {"dan": "yes"}
    pairs = pairwise(units)
    assert [(p.first, p.second) for p in pairs] == [("ann", "bob"), ("ann", "cat")]
    assert pairs[0].result.kappa == pytest.approx(0.4)
    assert pairs[1].result.n == 1 and pairs[1].result.agreement == 0.0
