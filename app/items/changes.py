"""Every change to an example or pair goes through here: the version check (409 with the
current state), recording the revision (the one place a `Revision` is built), status changes,
the "content changed" announcement and reverting to a revision."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.items import repository
from app.items.events import content_changed
from app.items.kinds import Item
from app.items.restore import Step, fields_at
from app.models import ItemKind, ItemStatus, Project, Revision, User
from app.models.base import utcnow

__all__ = [
    "add_revision",
    "check_version",
    "content_changed",
    "record",
    "reset_approval",
    "revert_target",
    "set_status",
]


def check_version(kind: ItemKind, item: Item, version: int, current: dict[str, Any]) -> None:
    """409 when the caller worked on an older version; the details carry what is there now."""
    if version != item.version:
        raise Conflict(
            f"{kind.value} {item.id} changed since you loaded it (you had version "
            f"{version}, it is now at {item.version})",
            details={"current": current, "current_version": item.version},
        )


def add_revision(
    db: Session,
    *,
    project_id: int,
    kind: ItemKind,
    item_id: int,
    version: int,
    user_id: int | None,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> Revision:
    """Add a revision row as given. Prefer `record`, which also stamps the item and reads its
    version; this is for changes made by SQL or batched under one flush."""
    revision = Revision(
        project_id=project_id,
        item_kind=kind.value,
        item_id=item_id,
        version=version,
        user_id=user_id,
        action=action,
        before=before,
        after=after,
    )
    db.add(revision)
    return revision


def record(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    item: Item,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    *,
    now: datetime | None = None,
) -> Revision:
    """Stamp the item, flush (bumps `version`, or raises StaleDataError on a concurrent save)
    and add the revision."""
    item.updated_by_id = user.id
    item.updated_at = now or utcnow()
    db.flush()
    return add_revision(
        db,
        project_id=project.id,
        kind=kind,
        item_id=item.id,
        version=item.version,
        user_id=user.id,
        action=action,
        before=before,
        after=after,
    )


def set_status(
    db: Session, project: Project, kind: ItemKind, item: Item, status: ItemStatus
) -> None:
    """Set the status; an item put back to pending (draft) goes back to the labeling queue."""
    if status is ItemStatus.draft and item.status is not ItemStatus.draft:
        repository.reopen_slots(db, project.id, kind, item.id, project.min_submissions)
    item.status = status


def reset_approval(item: Item) -> None:
    """Approval is given to content: an approved item whose content changes (an edit, a swap)
    is submitted again and waits for approvals of what it holds now."""
    if item.status is ItemStatus.approved:
        item.status = ItemStatus.submitted


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
    history = repository.revisions_of(db, kind, item.id)
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
