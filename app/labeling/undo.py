"""Undo of an annotator's last submit or discard, while the lease they worked under would
still hold: the label is open again, its slot theirs again, and an item that the submit moved
on (to submitted, or rejected by a discard) goes back to where it was. Once a reviewer has
decided on the item, or the lease time has passed, it is too late. Nothing here commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.items import changes
from app.items import repository as items
from app.items.kinds import Item, snapshot
from app.models import (
    ItemKind,
    ItemStatus,
    Label,
    LabelSlot,
    LabelState,
    Project,
    Review,
    User,
)

UNDO_KEY = "undo"
FINISHED = (LabelState.submitted, LabelState.discarded)


def remember(label: Label, item: Item, slot: LabelSlot | None) -> None:
    """Called just before a submit or discard: what undoing it restores (kept in the label's
    draft, which a finished label has no other use for)."""
    label.draft = {
        UNDO_KEY: {
            "label_state": label.state.value,
            "item_status": item.status.value,
            "slot": slot.id if slot is not None else None,
        }
    }


def can_undo(label: Label | None, now: datetime, lease_s: int) -> bool:
    """Whether the page should offer undo (the service decides for real)."""
    return (
        label is not None
        and label.state in FINISHED
        and isinstance((label.draft or {}).get(UNDO_KEY), dict)
        and label.submitted_at is not None
        and now - label.submitted_at <= timedelta(seconds=lease_s)
    )


def undo(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    item_id: int,
    now: datetime,
    *,
    lease_s: int,
) -> Label:
    item = items.get(db, project, kind, item_id)
    label = db.scalar(
        select(Label).where(
            Label.item_kind == kind.value, Label.item_id == item.id, Label.user_id == user.id
        )
    )
    if label is None or label.state not in FINISHED:
        raise Conflict(
            f"nothing to undo: you have not submitted or discarded {kind.value} {item.id}"
        )
    info: Any = (label.draft or {}).get(UNDO_KEY)
    if not can_undo(label, now, lease_s) or not isinstance(info, dict):
        raise Conflict(
            f"too late to undo your {label.state.value} of {kind.value} {item.id}: undo works for "
            f"{lease_s // 60} minutes after it; ask a reviewer to send it back"
        )
    assert label.submitted_at is not None
    reviewed = db.scalar(
        select(Review.id)
        .where(
            Review.item_kind == kind.value,
            Review.item_id == item.id,
            Review.created_at >= label.submitted_at,
        )
        .limit(1)
    )
    prior = ItemStatus(info["item_status"])
    moved_on = item.status not in (prior, ItemStatus.submitted, ItemStatus.rejected)
    if reviewed is not None or moved_on:
        raise Conflict(f"a reviewer has decided on {kind.value} {item.id} since: too late to undo")
    was = label.state
    if item.status is not prior:
        before = snapshot(item)
        item.status = prior
        changes.record(db, project, user, kind, item, "undo", before, snapshot(item), now=now)
    slot = db.get(LabelSlot, info["slot"]) if info.get("slot") is not None else None
    if slot is not None and slot.item_id == item.id:
        slot.done = False
        slot.user_id = user.id
        slot.lease_expires_at = now + timedelta(seconds=lease_s)
    state = LabelState(info["label_state"])
    label.state = LabelState.returned if state is LabelState.returned else LabelState.draft
    label.draft = None
    label.submitted_at = None if was is LabelState.discarded else label.submitted_at
    label.started_at = now
    return label
