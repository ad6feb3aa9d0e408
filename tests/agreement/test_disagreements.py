"""Disagreements listed for adjudication."""

from __future__ import annotations

from app.agreement.disagreements import category_disagreements, rating_disagreements


def test_ratings_two_or_more_points_apart_widest_first() -> None:
    units = {
        1: {"a": 3, "b": 4},  # spread 1: noise
        2: {"a": 2, "b": 4},  # spread 2
        3: {"a": 1, "b": 5, "c": 3},  # spread 4
        4: {"a": 1},  # one rating: nothing to compare
        5: {"a": 5, "b": 5},
    }
    found = rating_disagreements(units)
    assert [(d.unit, d.spread) for d in found] == [(3, 4), (2, 2)]
    assert found[0].values == {"a": 1, "b": 5, "c": 3}
    assert [d.unit for d in rating_disagreements(units, min_spread=1)] == [3, 2, 1]


def test_categories_that_differ() -> None:
    units = {
        10: {"a": "chosen", "b": "chosen"},
        11: {"a": "chosen", "b": "rejected"},
        12: {"a": "tie", "b": "tie", "c": "chosen"},
        13: {"a": "rejected"},
    }
    found = category_disagreements(units)
    assert [d.unit for d in found] == [11, 12]
    assert found[0].spread is None
