"""Pieces every change to an example or pair shares: the version check (409 with the current
state), recording the revision, re-checks after a content change, and reverting to a revision."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.contamination import service as contamination
from app.diversity import service as diversity
from app.errors import Conflict, Invalid, NotFound
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    PreferencePair,
    Project,
    Revision,
    User,
)
from app.models.base import utcnow
from app.review import repository
from app.review.restore import Step, fields_at

Item = Example | PreferencePair


def check_version(kind: ItemKind, item: Item, version: int, current: dict[str, Any]) -> None:
    """409 when the caller worked on an older version; the details carry what is there now."""
    if version != item.version:
        raise Conflict(
            f"{kind.value} {item.id} changed since you loaded it (you had version "
            f"{version}, it is now at {item.version})",
            details={"current": current, "current_version": item.version},
        )


def record(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    item: Item,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> Revision:
    """Stamp the item, flush (bumps `version`, or raises StaleDataError on a concurrent save)
    and add the revision."""
    item.updated_by_id = user.id
    item.updated_at = utcnow()
    db.flush()
    revision = Revision(
        project_id=project.id,
        item_kind=kind.value,
        item_id=item.id,
        version=item.version,
        user_id=user.id,
        action=action,
        before=before,
        after=after,
    )
    db.add(revision)
    return revision


def content_changed(
    db: Session, project: Project, user: User, kind: ItemKind, item_id: int
) -> None:
    """Queue the contamination re-check and the diversity re-score an edit calls for."""
    contamination.recheck_after_edit(db, project, user, kind, item_id)
    diversity.rescore_after_edit(db, project, user, kind, item_id)


def revisions_of(db: Session, kind: ItemKind, item_id: int) -> list[Revision]:
    """The item's revisions, newest first."""
    return list(
        db.scalars(
            select(Revision)
            .where(Revision.item_kind == kind.value, Revision.item_id == item_id)
            .order_by(Revision.id.desc())
        )
    )


def revert_target(
    db: Session,
    kind: ItemKind,
    item: Item,
    revision_id: int,
    current: dict[str, Any],
    fields: tuple[str, ...],
    *,
    before: bool = False,
) -> dict[str, Any]:
    """The fields as they were right after (or before) the revision. A restored `approved`
    becomes `submitted`: approvals are given to content by reviewers, never restored."""
    history = revisions_of(db, kind, item.id)
    revision = next((r for r in history if r.id == revision_id), None)
    if revision is None:
        raise NotFound(f"revision {revision_id} is not a revision of {kind.value} {item.id}")
    if before and revision.before is None:
        raise Invalid(
            f"revision {revision_id} created the {kind.value}: there is nothing before it"
        )
    steps = [Step(r.id, r.before, r.after) for r in history]
    state = fields_at(steps, revision_id, current, fields, before=before)
    if state.get("status") == ItemStatus.approved.value:
        state["status"] = ItemStatus.submitted.value
    return state


def set_status(
    db: Session, project: Project, kind: ItemKind, item: Item, status: ItemStatus
) -> None:
    """Set the status; an item put back to pending (draft) goes back to the labeling queue."""
    if status is ItemStatus.draft and item.status is not ItemStatus.draft:
        repository.reopen_slots(db, project.id, kind, item.id, project.min_submissions)
    item.status = status
