"""The labeling queue: which item an annotator gets next, under a lease.

"Next" hands out, in this order: the annotator's items a reviewer sent back (with the
reviewer's comment), the item they already hold under a valid lease, then the oldest free slot
(by `queued_at`, `id`) of an item they have not labeled and hold no other slot of (see
`app.labeling.slots` for the claim). Also the annotator's hold on one item for saving work,
skipping, and the start page's counts. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.errors import Conflict
from app.items import repository as items
from app.items.kinds import Item, model_for
from app.labeling import slots
from app.labeling.slots import FINISHED_STATES, QUEUE_STATUSES, release, sync_slots
from app.models import (
    ItemKind,
    ItemStatus,
    Label,
    LabelSlot,
    LabelState,
    Project,
    Review,
    ReviewDecision,
    User,
)

__all__ = ["FINISHED_STATES", "QUEUE_STATUSES", "Assignment", "Hold",
           "QueueCounts", "acquire", "counts", "label_of", "next_item", "release",
           "returned_comment", "skip", "sync_slots"]  # fmt: skip


@dataclass(slots=True)
class Assignment:
    """What "next" hands out: the item, the annotator's label row, the lease (None for an item
    sent back, whose slot is already done) and the reviewer's comment when it was sent back."""

    kind: ItemKind
    item: Item
    label: Label
    lease_expires_at: datetime | None
    returned_comment: str | None


def label_of(db: Session, kind: ItemKind, item_id: int, user: User) -> Label | None:
    return db.scalar(
        select(Label).where(
            Label.item_kind == kind.value, Label.item_id == item_id, Label.user_id == user.id
        )
    )


def returned_comment(db: Session, kind: ItemKind, item_id: int) -> str | None:
    """The latest comment of a reviewer who sent the item back."""
    return db.scalar(
        select(Review.comment)
        .where(
            Review.item_kind == kind.value,
            Review.item_id == item_id,
            Review.decision == ReviewDecision.needs_revision,
        )
        .order_by(Review.id.desc())
        .limit(1)
    )


def _open_label(db: Session, project: Project, kind: ItemKind, item: Item, user: User,
                now: datetime) -> Label:  # fmt: skip
    """The user's label row for an item they just took: new, or their earlier skipped/draft one
    (its draft kept so the work is restored).

    Usually there is none yet, so the row is inserted first (one statement, nothing to read);
    only when it exists already is it read and reopened."""
    label = slots.insert_label(db, project, kind, item, user, now)
    if label is not None:
        return label
    label = label_of(db, kind, item.id, user)
    if label is None:  # pragma: no cover - the insert just met it
        raise Conflict(f"your label of {kind.value} {item.id} vanished; try again")
    if label.state is LabelState.skipped or label.started_at is None:
        label.started_at = now
    if label.state is LabelState.skipped:
        label.state = LabelState.draft
    if label.draft is None:
        label.item_version = item.version
    return label


# --- next ---------------------------------------------------------------------------------


def _next_returned(
    db: Session, project: Project, kind: ItemKind, user: User, now: datetime
) -> Assignment | None:
    model = model_for(kind)
    label = db.scalar(
        select(Label)
        .join(model, model.id == Label.item_id)
        .where(
            Label.project_id == project.id,
            Label.user_id == user.id,
            Label.state == LabelState.returned,
            Label.item_kind == kind.value,
            model.status == ItemStatus.needs_revision,
        )
        .order_by(Label.id)
        .limit(1)
    )
    if label is None:
        return None
    item = items.get(db, project, kind, label.item_id)
    if label.started_at is None or (label.submitted_at and label.started_at <= label.submitted_at):
        label.started_at = now  # a new round of work on it starts now
    return Assignment(kind, item, label, None, returned_comment(db, kind, item.id))


def next_item(
    db: Session, project: Project, user: User, kind: ItemKind, now: datetime, *, lease_s: int
) -> Assignment | None:
    """The next item for this annotator, or None when nothing is left for them."""
    slots.advisory_lock(db, slots.USER_LOCK, user.id)
    returned = _next_returned(db, project, kind, user, now)
    if returned is not None:
        return returned
    slot = slots.valid_lease(db, project, kind, user, now)
    if slot is not None:
        item = items.get(db, project, kind, slot.item_id)
        if item.status in QUEUE_STATUSES and slot.slot < project.min_submissions:
            slot.lease_expires_at = now + timedelta(seconds=lease_s)
            label = _open_label(db, project, kind, item, user, now)
            return Assignment(kind, item, label, slot.lease_expires_at, _sent_back(db, kind, item))
        release(slot, now)  # the item left the queue (reviewed, rejected) while leased
    synced = sync_slots(db, project, kind, now) > 0
    slot = slots.claim(db, project, kind, user, now, lease_s)
    if slot is None and not synced:
        sync_slots(db, project, kind, now, force=True)
        slot = slots.claim(db, project, kind, user, now, lease_s)
    if slot is None:
        return None
    item = items.get(db, project, kind, slot.item_id)
    label = _open_label(db, project, kind, item, user, now)
    return Assignment(kind, item, label, slot.lease_expires_at, _sent_back(db, kind, item))


def _sent_back(db: Session, kind: ItemKind, item: Item) -> str | None:
    """An item a reviewer sent back that nobody had labeled is in the general queue: whoever
    picks it up gets the reviewer's comment."""
    if item.status is not ItemStatus.needs_revision:
        return None
    return returned_comment(db, kind, item.id)


# --- working on one item --------------------------------------------------------------------


@dataclass(slots=True)
class Hold:
    """The user's standing on one item: their label (created if they could take a slot) and
    their slot (None when they kept a label but lost the slot, or it is already done)."""

    item: Item
    label: Label
    slot: LabelSlot | None


def acquire(
    db: Session,
    project: Project,
    kind: ItemKind,
    item_id: int,
    user: User,
    now: datetime,
    *,
    lease_s: int,
) -> Hold:
    """Make sure the user may save work on this item: their own slot (lease renewed), else a
    free slot of the item, else their existing label alone. 409 when they have none of these."""
    item = items.get(db, project, kind, item_id)
    slots.advisory_lock(db, slots.USER_LOCK, user.id)
    slot, label = slots.own_slot_and_label(db, kind, item_id, user)
    if (
        slot is None
        and item.status in QUEUE_STATUSES
        and (label is None or label.state not in FINISHED_STATES)
    ):
        slots.advisory_lock(
            db, slots.SYNC_LOCK, project.id
        )  # slot inserts only under this lock: no deadlocks
        slots.insert_missing_slots(db, project, kind, now, item_id=item_id)
        candidate = db.scalar(
            slots.lock_candidate(
                db,
                select(LabelSlot.id)
                .where(*slots.claimable(project, kind, user, now), LabelSlot.item_id == item_id)
                .order_by(LabelSlot.slot)
                .limit(1),
            )
        )
        if candidate is not None and slots.take(db, candidate, user, now, lease_s):
            slot = db.get(LabelSlot, candidate, populate_existing=True)
    if slot is None and label is None:
        raise Conflict(
            f"{kind.value} {item_id} is not in your queue: its labels are all taken or done"
        )
    if slot is not None and not slot.done:
        slot.user_id = user.id
        slot.lease_expires_at = now + timedelta(seconds=lease_s)
    if label is None:
        label = _open_label(db, project, kind, item, user, now)
    return Hold(item, label, slot if slot is not None and not slot.done else None)


def skip(
    db: Session, project: Project, kind: ItemKind, item_id: int, user: User, now: datetime
) -> Label:
    """Put the item back at the end of the queue; it comes back later, to this annotator too
    once everything else is done."""
    item = items.get(db, project, kind, item_id)
    label = label_of(db, kind, item.id, user)
    if label is not None and label.state is LabelState.returned:
        raise Conflict("a reviewer sent this item back to you: resubmit or discard it")
    if label is not None and label.state in (LabelState.submitted, LabelState.discarded):
        raise Conflict(f"you already {label.state.value} this {kind.value}")
    slot = slots.own_slot(db, kind, item.id, user)
    if label is None and slot is None:
        raise Conflict(
            f"{kind.value} {item.id} was never handed out to you: take it from the queue"
        )
    if slot is not None and not slot.done:
        release(slot, now, to_back=True)
    if label is None:
        label = _open_label(db, project, kind, item, user, now)
    label.state = LabelState.skipped
    return label


# --- counts for the start page ----------------------------------------------------------------


@dataclass(slots=True)
class QueueCounts:
    waiting: int  # items this annotator could be handed now (sent back ones included)
    returned: int
    submitted_today: int


def counts(db: Session, project: Project, user: User, kind: ItemKind, now: datetime) -> QueueCounts:
    sync_slots(db, project, kind, now)
    model = model_for(kind)
    returned = db.scalar(
        select(func.count())
        .select_from(Label)
        .join(model, model.id == Label.item_id)
        .where(
            Label.project_id == project.id,
            Label.user_id == user.id,
            Label.item_kind == kind.value,
            Label.state == LabelState.returned,
            model.status == ItemStatus.needs_revision,
        )
    )
    open_items = db.scalar(
        select(func.count(func.distinct(LabelSlot.item_id))).where(
            *slots.claimable(project, kind, user, now, or_held=True)
        )
    )
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = db.scalar(
        select(func.count())
        .select_from(Label)
        .where(
            Label.project_id == project.id,
            Label.user_id == user.id,
            Label.item_kind == kind.value,
            Label.state == LabelState.submitted,
            Label.submitted_at >= start_of_day,
        )
    )
    return QueueCounts(
        int(open_items or 0) + int(returned or 0), int(returned or 0), int(today or 0)
    )
