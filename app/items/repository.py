"""All SQL items share: one item in a project, an item's revisions, its labeling slots, and
who wrote a revision."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from app.errors import NotFound
from app.items.kinds import Item
from app.models import (
    Example,
    ItemKind,
    Label,
    LabelSlot,
    LabelState,
    Preference,
    PreferencePair,
    Project,
    Revision,
    User,
)
from app.models.base import in_project

M = TypeVar("M", Example, PreferencePair)
# Labels that make their author an annotator of the item.
LABELED_STATES = (LabelState.submitted, LabelState.returned)


def get_in_project(db: Session, model: type[M], project: Project, item_id: int) -> M:
    """The row of `model` with this id in the project; NotFound otherwise (also when it belongs
    to another project, so ids do not leak across projects)."""
    row = in_project(db, model, project.id, item_id)
    if row is None:
        kind = ItemKind.example if model is Example else ItemKind.pair
        raise NotFound(f"{kind.value} {item_id} not found in project '{project.slug}'")
    return row


def get(db: Session, project: Project, kind: ItemKind, item_id: int) -> Item:
    """The item of this kind and id in the project; NotFound otherwise."""
    if kind is ItemKind.example:
        return get_in_project(db, Example, project, item_id)
    return get_in_project(db, PreferencePair, project, item_id)


def find(db: Session, kind: ItemKind, item_id: int) -> Item | None:
    """The item of this kind and id, in whatever project (None when there is none)."""
    if kind is ItemKind.example:
        return db.get(Example, item_id)
    return db.get(PreferencePair, item_id)


def revisions_of(db: Session, kind: ItemKind, item_id: int) -> list[Revision]:
    """The item's revisions, newest first."""
    return list(
        db.scalars(
            select(Revision)
            .where(Revision.item_kind == kind.value, Revision.item_id == item_id)
            .order_by(Revision.id.desc())
        )
    )


def user_email(db: Session, user_id: int) -> str | None:
    user = db.get(User, user_id)
    return user.email if user is not None else None


def reopen_slots(db: Session, project_id: int, kind: ItemKind, item_id: int, needed: int) -> None:
    """Put the item back in the general labeling queue: its slots are free again (missing ones
    created, e.g. for an imported item that never had any), except those of annotators whose
    label still stands (submitted or returned)."""
    labeled = select(Label.user_id).where(
        Label.item_kind == kind.value, Label.item_id == item_id, Label.state.in_(LABELED_STATES)
    )
    db.execute(
        update(LabelSlot)
        .where(
            LabelSlot.item_kind == kind.value,
            LabelSlot.item_id == item_id,
            or_(LabelSlot.user_id.is_(None), LabelSlot.user_id.not_in(labeled)),
        )
        .values(done=False, user_id=None, lease_expires_at=None)
        .execution_options(synchronize_session="fetch")
    )
    existing = set(
        db.scalars(
            select(LabelSlot.slot).where(
                LabelSlot.item_kind == kind.value, LabelSlot.item_id == item_id
            )
        )
    )
    for slot in range(max(needed, 1)):
        if slot not in existing:
            db.add(
                LabelSlot(project_id=project_id, item_kind=kind.value, item_id=item_id, slot=slot)
            )
    db.flush()


def flip_preferences(db: Session, pair_id: int) -> None:
    """After a swap: a preference for the old chosen side is one for the new rejected side."""
    flipped = {Preference.chosen: Preference.rejected, Preference.rejected: Preference.chosen}
    labels = db.scalars(
        select(Label).where(Label.item_kind == ItemKind.pair.value, Label.item_id == pair_id)
    )
    for label in labels:
        if label.preference in flipped:
            label.preference = flipped[label.preference]
        draft = label.draft or {}
        if draft.get("preference") in flipped:
            label.draft = {**draft, "preference": flipped[Preference(draft["preference"])].value}
