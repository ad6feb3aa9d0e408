"""Which preference pairs one prompt's rated responses make. Pure: no database, no web.

The votes for one prompt are grouped by response (normalised text). Each vote counts +1 (up,
picked) or -1 (down, not picked); a 1..5 score counts (score - 3) / 2, so 5 is +1 and 3 is 0. A
response is *good* when its votes average above zero, *bad* below zero; a response whose votes
cancel out is *conflicting* (rated both ways) or *neutral* and takes no side. Every good x bad
combination is a candidate pair (chosen = good), the best good and the worst bad first (ties:
more votes first, then the earliest log row):

* ``all`` - every combination, at most ``max_per_prompt`` per prompt;
* ``best_worst`` - only the best good against the worst bad.

Votes of a response that takes no pair stay as they are: unpaired feedback, still exported as
KTO rows when they have a label.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["all", "best_worst"]
MODES: tuple[Mode, ...] = ("all", "best_worst")


@dataclass(frozen=True, slots=True)
class Vote:
    """One rated response (a feedback entry)."""

    entry_id: int
    response_key: str
    response: str
    prompt: list[dict[str, Any]]
    label: bool | None
    score: int | None

    @property
    def value(self) -> float:
        if self.score is not None:
            return (self.score - 3) / 2
        if self.label is None:
            return 0.0
        return 1.0 if self.label else -1.0


@dataclass(slots=True)
class Candidate:
    """One distinct response to the prompt and its votes."""

    response_key: str
    response: str
    prompt: list[dict[str, Any]]
    votes: list[Vote] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return sum(v.value for v in self.votes) / len(self.votes)

    @property
    def first_id(self) -> int:
        return min(v.entry_id for v in self.votes)

    @property
    def conflicting(self) -> bool:
        values = [v.value for v in self.votes]
        return self.mean == 0 and any(x > 0 for x in values) and any(x < 0 for x in values)

    def supporting(self, chosen: bool) -> list[int]:
        """The entries whose vote agrees with this response's side of a pair."""
        return sorted(v.entry_id for v in self.votes if (v.value > 0) == chosen and v.value != 0)


@dataclass(frozen=True, slots=True)
class PlannedPair:
    prompt: list[dict[str, Any]]
    chosen: str
    rejected: str
    chosen_entries: list[int]
    rejected_entries: list[int]


@dataclass(slots=True)
class PromptPlan:
    pairs: list[PlannedPair]
    good: int
    bad: int
    conflicting: int
    capped: int
    """Combinations left out by the per-prompt cap (or by best_worst)."""

    @property
    def pairable(self) -> bool:
        return self.good > 0 and self.bad > 0


def candidates(votes: Iterable[Vote]) -> list[Candidate]:
    """The distinct responses of one prompt, in the order first seen."""
    by_key: dict[str, Candidate] = {}
    for vote in votes:
        candidate = by_key.get(vote.response_key)
        if candidate is None:
            candidate = by_key[vote.response_key] = Candidate(
                vote.response_key, vote.response, vote.prompt
            )
        candidate.votes.append(vote)
    return list(by_key.values())


def plan_prompt(votes: Iterable[Vote], mode: Mode = "all", max_per_prompt: int = 10) -> PromptPlan:
    """The pairs one prompt's votes make (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown pairing mode {mode!r}; use {' or '.join(MODES)}")
    if max_per_prompt < 1:
        raise ValueError("max_per_prompt must be at least 1")
    found = candidates(votes)
    good = sorted(
        (c for c in found if c.mean > 0), key=lambda c: (-c.mean, -len(c.votes), c.first_id)
    )
    bad = sorted(
        (c for c in found if c.mean < 0), key=lambda c: (c.mean, -len(c.votes), c.first_id)
    )
    conflicting = sum(1 for c in found if c.conflicting)
    combos = [(g, b) for g in good for b in bad]
    combos.sort(key=lambda gb: (good.index(gb[0]) + bad.index(gb[1]), good.index(gb[0])))
    limit = 1 if mode == "best_worst" else max_per_prompt
    kept = combos[:limit]
    pairs = [
        PlannedPair(
            prompt=g.prompt,
            chosen=g.response,
            rejected=b.response,
            chosen_entries=g.supporting(True),
            rejected_entries=b.supporting(False),
        )
        for g, b in kept
    ]
    return PromptPlan(pairs, len(good), len(bad), conflicting, len(combos) - len(kept))
