"""What an item looked like at a point of its history, rebuilt from its revisions. Pure.

Revisions do not all carry every field (a review decision stores only the status, an edit the
whole snapshot), so a field's value right after revision R is the `after` value of the latest
revision up to R that recorded it; failing that, the `before` value of the first later revision
that recorded it (the field had not changed until then); failing that, the current value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Step:
    """One revision: its id and its before/after snapshots."""

    id: int
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


def fields_at(
    history: Sequence[Step],
    revision_id: int,
    current: Mapping[str, Any],
    fields: Sequence[str],
    *,
    before: bool = False,
) -> dict[str, Any]:
    """`fields` as they were right after revision `revision_id` (right before it with
    `before=True`). `history` is every revision of the item; KeyError when the id is not one."""
    ordered = sorted(history, key=lambda s: s.id)
    position = next((i for i, s in enumerate(ordered) if s.id == revision_id), None)
    if position is None:
        raise KeyError(revision_id)
    cut = position if before else position + 1
    applied, later = ordered[:cut], ordered[cut:]
    state: dict[str, Any] = {}
    for name in fields:
        found = False
        for step in reversed(applied):
            if step.after is not None and name in step.after:
                state[name], found = step.after[name], True
                break
        if not found:
            for step in later:
                if step.before is not None and name in step.before:
                    state[name], found = step.before[name], True
                    break
        if not found:
            state[name] = current[name]
    return state
