"""Rebuilding an item's fields at a point of its history (pure)."""

from __future__ import annotations

import pytest

from app.items.restore import Step, fields_at

HISTORY = [
    Step(1, None, {"text": "created", "status": "submitted"}),
    Step(
        2, {"text": "created", "status": "submitted"}, {"text": "edit one", "status": "submitted"}
    ),
    Step(3, {"status": "submitted"}, {"status": "approved"}),
    Step(4, {"text": "edit one", "status": "approved"}, {"text": "edit two", "status": "approved"}),
]
CURRENT = {"text": "edit two", "status": "approved", "extra": "now"}


def test_after_and_before_a_revision() -> None:
    fields = ("text", "status")
    assert fields_at(HISTORY, 2, CURRENT, fields) == {"text": "edit one", "status": "submitted"}
    assert fields_at(HISTORY, 3, CURRENT, fields) == {"text": "edit one", "status": "approved"}
    assert fields_at(HISTORY, 2, CURRENT, fields, before=True) == {
        "text": "created",
        "status": "submitted",
    }


def test_fields_no_revision_recorded_keep_their_current_value() -> None:
    assert fields_at(HISTORY, 2, CURRENT, ("extra",)) == {"extra": "now"}


def test_a_partial_history_reads_later_before_snapshots() -> None:
    # Imported items have no creation revision: the first edit's `before` is the original.
    partial = [
        Step(7, {"status": "submitted"}, {"status": "rejected"}),
        Step(9, {"text": "orig", "status": "rejected"}, {"text": "new", "status": "rejected"}),
    ]
    state = fields_at(partial, 7, {"text": "new", "status": "rejected"}, ("text", "status"))
    assert state == {"text": "orig", "status": "rejected"}


def test_unknown_revision() -> None:
    with pytest.raises(KeyError):
        fields_at(HISTORY, 99, CURRENT, ("text",))
