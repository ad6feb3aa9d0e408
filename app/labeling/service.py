"""One annotator's work on one item: autosaved drafts, submit, discard, and the item's move to
`submitted` once all its labels are in. Nothing here commits.

Each annotator's label is its own row, so disagreement stays visible. An edit to an example's
conversation goes through `app.examples.service.update` with the version the annotator worked
on: a newer version answers 409 with both texts (theirs in `current`, yours in `mine`), never a
silent overwrite.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, true
from sqlalchemy.orm import Session

from app.errors import Conflict, Forbidden, Invalid
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.items import changes
from app.items import repository as items
from app.items.kinds import Item, snapshot
from app.labeling import queue, undo
from app.labeling.schemas import DraftIn, Side, SubmitIn
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Label,
    LabelSlot,
    LabelState,
    Preference,
    Project,
    Role,
    User,
)


def pair_order(user_id: int, pair_id: int) -> tuple[Side, Side]:
    """Which stored side this annotator sees as A and which as B: random-looking, but the same
    every time they open the pair (pure)."""
    digest = hashlib.sha256(f"trellis-pair-order:{user_id}:{pair_id}".encode()).digest()
    return ("chosen", "rejected") if digest[0] % 2 == 0 else ("rejected", "chosen")


def prompts_kept(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> bool:
    """True when `after` changes only assistant turns: its other turns are the old ones,
    unchanged and in order (some may be removed; none edited or added) (pure)."""
    old = iter([m for m in before if m.get("role") != "assistant"])
    return all(
        any(turn == candidate for candidate in old)
        for turn in after
        if turn.get("role") != "assistant"
    )


def median_half_up(values: list[int]) -> int | None:
    """The median, with a tie between two middle values rounded half up (pure)."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid] + 1) // 2


def may_edit_prompts(project: Project, role: Role | None) -> bool:
    """Annotators edit system/user turns only where the project allows; reviewers and above
    always may."""
    return project.annotators_edit_prompts or (role is not None and role.rank >= Role.reviewer.rank)


def _tags(project: Project, tags: list[str]) -> list[str]:
    unknown = [t for t in tags if t not in project.label_tags]
    if unknown:
        allowed = ", ".join(project.label_tags) or "none are set up"
        raise Invalid(f"unknown tag(s) {', '.join(unknown)}; this project's tags: {allowed}")
    return list(dict.fromkeys(tags))


def _seconds(label: Label, now: datetime) -> float | None:
    if label.started_at is None:
        return None
    return max((now - label.started_at).total_seconds(), 0.0)


def _finished_already(label: Label, kind: ItemKind) -> None:
    if label.state in (LabelState.submitted, LabelState.discarded):
        raise Conflict(f"you already {label.state.value} this {kind.value}")


def save_draft(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    item_id: int,
    data: DraftIn,
    now: datetime,
    *,
    lease_s: int,
) -> Label:
    """Keep unsubmitted work (and renew the lease) so a reload or a crash loses nothing."""
    hold = queue.acquire(db, project, kind, item_id, user, now, lease_s=lease_s)
    label = hold.label
    _finished_already(label, kind)
    label.draft = data.draft
    label.item_version = data.version
    if label.state is LabelState.skipped:
        label.state = LabelState.draft
    fields = data.model_dump(exclude_unset=True)
    if "rating" in fields:
        label.rating = data.rating
    if data.tags is not None:
        label.tags = _tags(project, data.tags)
    if data.note is not None:
        label.note = data.note
    if "preference" in fields and kind is ItemKind.pair:
        label.preference = data.preference
    return label


def _edit_messages(
    db: Session,
    project: Project,
    user: User,
    role: Role | None,
    item: Example,
    version: int,
    messages: list[dict[str, Any]],
) -> None:
    if messages == item.messages:
        return
    if version != item.version:
        raise Conflict(
            f"example {item.id} changed since you loaded it (you edited version {version}, "
            f"it is now at {item.version}): keep yours or take theirs",
            details={
                "current": snapshot(item),
                "current_version": item.version,
                "mine": {"messages": messages},
            },
        )
    if not may_edit_prompts(project, role) and not prompts_kept(item.messages, messages):
        raise Forbidden(
            "in this project annotators edit only assistant turns; system and user turns "
            "stay as they are"
        )
    examples.update(db, project, item.id, user, ExampleUpdate(version=version, messages=messages))


def submit(
    db: Session,
    project: Project,
    user: User,
    role: Role | None,
    kind: ItemKind,
    item_id: int,
    data: SubmitIn,
    now: datetime,
    *,
    lease_s: int,
) -> tuple[Label, Item]:
    if kind is ItemKind.pair:
        if data.preference is None:
            raise Invalid("say which response is better, or that they tie (preference)")
        if data.messages is not None:
            raise Invalid("pairs are labeled, not edited, here: leave messages out")
    tags = _tags(project, data.tags)
    hold = queue.acquire(db, project, kind, item_id, user, now, lease_s=lease_s)
    label, item = hold.label, hold.item
    _finished_already(label, kind)
    if isinstance(item, Example):
        if data.messages is not None:
            _edit_messages(db, project, user, role, item, data.version, data.messages)
        examples.require_response(item, "submit")
    undo.remember(label, item, hold.slot)
    label.state = LabelState.submitted
    label.rating = data.rating
    label.tags = tags
    label.note = data.note
    label.preference = data.preference if kind is ItemKind.pair else None
    label.item_version = item.version
    label.submitted_at = now
    label.seconds = _seconds(label, now)
    if hold.slot is not None:
        hold.slot.done = True
        hold.slot.lease_expires_at = None
    _finish_if_complete(db, project, user, kind, item, now)
    return label, item


def discard(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    item_id: int,
    note: str,
    now: datetime,
    *,
    lease_s: int,
) -> Label:
    """The annotator judges the item unusable: it is rejected (a reviewer can revert that)."""
    hold = queue.acquire(db, project, kind, item_id, user, now, lease_s=lease_s)
    label, item = hold.label, hold.item
    _finished_already(label, kind)
    undo.remember(label, item, hold.slot)
    label.state = LabelState.discarded
    label.note = note
    label.submitted_at = now
    label.seconds = _seconds(label, now)
    if hold.slot is not None:
        hold.slot.done = True
        hold.slot.lease_expires_at = None
    if item.status in queue.QUEUE_STATUSES:
        before = snapshot(item)
        item.status = ItemStatus.rejected
        changes.record(db, project, user, kind, item, "discard", before, snapshot(item), now=now)
    return label


def clear_draft_edits(
    db: Session, project: Project, user: User, kind: ItemKind, item_id: int
) -> None:
    """ "Take theirs": forget the autosaved edits to the turns (rating, tags and note stay)."""
    item = items.get(db, project, kind, item_id)
    label = queue.label_of(db, kind, item.id, user)
    if label is not None and label.draft is not None:
        label.draft = {k: v for k, v in label.draft.items() if k not in ("turns", "edited")}
        label.item_version = item.version


def _finish_if_complete(
    db: Session, project: Project, user: User, kind: ItemKind, item: Item, now: datetime
) -> None:
    """All slots done and nobody's label still sent back: the item is submitted, with the
    median rating and the union of tags."""
    db.flush()
    # Lock the item so two annotators finishing its last two slots at once both see each
    # other's work (the second waits, then counts again). Only the columns decided here are
    # reread, unless someone saved the item since it was loaded: then all of it, so the
    # revision below records the conversation as it is.
    loaded_version = item.version
    db.refresh(item, ["status", "version", "rating", "tags"], with_for_update=True)
    if item.version != loaded_version:
        db.refresh(item)
    if item.status not in queue.QUEUE_STATUSES:
        return
    done_slots = (
        select(func.count())
        .select_from(LabelSlot)
        .where(
            LabelSlot.item_kind == kind.value,
            LabelSlot.item_id == item.id,
            LabelSlot.done == true(),
            LabelSlot.slot < project.min_submissions,
        )
        .scalar_subquery()
    )
    # The labels and the count of done slots in one query (the count rides on every row).
    rows = db.execute(
        select(Label, done_slots).where(
            Label.item_kind == kind.value,
            Label.item_id == item.id,
            Label.state.in_((LabelState.submitted, LabelState.returned)),
        )
    ).all()
    done = rows[0][1] if rows else db.scalar(select(done_slots))
    if int(done or 0) < project.min_submissions:
        return
    labels = [row[0] for row in rows]
    if any(label.state is LabelState.returned for label in labels):
        return
    ratings = [label.rating for label in labels if label.rating is not None]
    before = snapshot(item)
    item.status = ItemStatus.submitted
    item.rating = median_half_up(ratings) if ratings else item.rating
    item.tags = list(dict.fromkeys([*item.tags, *(t for label in labels for t in label.tags)]))
    changes.record(db, project, user, kind, item, "submit", before, snapshot(item), now=now)


def labels_of_item(
    db: Session, project: Project, user: User, role: Role | None, kind: ItemKind, item_id: int
) -> list[Label]:
    """Reviewers and above see everyone's labels; annotators only their own."""
    items.get(db, project, kind, item_id)
    query = select(Label).where(Label.item_kind == kind.value, Label.item_id == item_id)
    if role is None or role.rank < Role.reviewer.rank:
        query = query.where(Label.user_id == user.id)
    return list(db.scalars(query.order_by(Label.id)))


def preference_from_choice(choice: str, order: tuple[str, str]) -> Preference | None:
    """The page's "a" / "b" / "tie" in terms of the stored sides."""
    if choice == "tie":
        return Preference.tie
    if choice in ("a", "b"):
        return Preference(order[0] if choice == "a" else order[1])
    return None


def choice_from_preference(preference: Preference | None, order: tuple[str, str]) -> str:
    if preference is None:
        return ""
    if preference is Preference.tie:
        return "tie"
    return "a" if preference.value == order[0] else "b"
