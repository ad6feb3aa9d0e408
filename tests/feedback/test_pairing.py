"""Pairing rules on one prompt's votes (pure: app.feedback.pairing)."""

from __future__ import annotations

import pytest

from app.feedback.pairing import Vote, plan_prompt

PROMPT = [{"role": "user", "content": "q"}]
_ids = iter(range(1, 10_000))


def vote(response: str, label: bool | None = None, score: int | None = None) -> Vote:
    return Vote(next(_ids), response.lower(), response, PROMPT, label, score)


def test_one_up_one_down_is_one_pair_chosen_up() -> None:
    up, down = vote("good", True), vote("bad", False)
    plan = plan_prompt([down, up])
    assert [(p.chosen, p.rejected) for p in plan.pairs] == [("good", "bad")]
    assert plan.pairs[0].chosen_entries == [up.entry_id]
    assert plan.pairs[0].rejected_entries == [down.entry_id]
    assert plan.pairable


def test_only_ups_make_no_pair() -> None:
    plan = plan_prompt([vote("a", True), vote("b", True)])
    assert plan.pairs == [] and not plan.pairable


def test_all_combinations_are_capped_best_first() -> None:
    votes = [vote("a5", score=5), vote("a4", score=4), vote("b1", score=1), vote("b2", score=2)]
    full = plan_prompt(votes, "all", 10)
    assert [(p.chosen, p.rejected) for p in full.pairs] == [
        ("a5", "b1"), ("a5", "b2"), ("a4", "b1"), ("a4", "b2")
    ]  # fmt: skip
    capped = plan_prompt(votes, "all", 2)
    assert len(capped.pairs) == 2 and capped.capped == 2
    assert (capped.pairs[0].chosen, capped.pairs[0].rejected) == ("a5", "b1")


def test_best_vs_worst_by_rating() -> None:
    votes = [vote("ok", score=4), vote("great", score=5), vote("poor", score=2),
             vote("awful", score=1), vote("meh", score=3)]  # fmt: skip
    plan = plan_prompt(votes, "best_worst")
    assert [(p.chosen, p.rejected) for p in plan.pairs] == [("great", "awful")]
    assert plan.capped == 3


def test_ties_break_on_votes_then_earliest_row() -> None:
    first, second = vote("first", True), vote("second", True)
    plan = plan_prompt([first, second, vote("bad", False)], "best_worst")
    assert plan.pairs[0].chosen == "first"
    again = vote("second", True)  # "second" now has two up votes: it wins
    plan = plan_prompt([first, second, again, vote("bad", False)], "best_worst")
    assert plan.pairs[0].chosen == "second"
    assert plan.pairs[0].chosen_entries == sorted([second.entry_id, again.entry_id])


def test_conflicting_ratings_of_one_response() -> None:
    """Rated up and down equally: it takes no side. A majority decides otherwise."""
    split = [vote("x", True), vote("X ", False)]
    split = [Vote(v.entry_id, "x", "x", PROMPT, v.label, None) for v in split]
    plan = plan_prompt([*split, vote("y", False)])
    assert plan.pairs == [] and plan.conflicting == 1
    majority = [*split, Vote(next(_ids), "x", "x", PROMPT, True, None), vote("y", False)]
    plan = plan_prompt(majority)
    assert [(p.chosen, p.rejected) for p in plan.pairs] == [("x", "y")]
    # only the agreeing votes are the pair's evidence
    assert len(plan.pairs[0].chosen_entries) == 2


def test_neutral_and_tie_votes_take_no_side() -> None:
    plan = plan_prompt([vote("a", None), vote("b", score=3), vote("c", True)])
    assert plan.pairs == [] and plan.conflicting == 0


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown pairing mode"):
        plan_prompt([], "random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 1"):
        plan_prompt([], "all", 0)
