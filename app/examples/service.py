"""Reading and editing SFT examples. Every change is versioned and recorded as a revision."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.contamination import service as contamination
from app.diversity import service as diversity
from app.errors import Conflict, Invalid, NotFound
from app.examples.listing import list_items
from app.examples.schemas import ExampleUpdate, ListFilter
from app.formats import RecordInvalid, example_hash, parse_record
from app.models import Example, ItemKind, ItemStatus, Project, Revision, User
from app.models.base import utcnow
from app.review import changes as review_changes

TRACKED = ("messages", "tags", "rating", "status", "split")
# What a revert restores: the conversation, tags, rating and status (not the export split).
RESTORED = ("messages", "tags", "rating", "status")


def list_examples(
    db: Session, project: Project, f: ListFilter
) -> tuple[list[Example], int, str | None]:
    return list_items(db, Example, project.id, f)


def get(db: Session, project: Project, example_id: int) -> Example:
    example = db.get(Example, example_id)
    if example is None or example.project_id != project.id:
        raise NotFound(f"example {example_id} not found in project '{project.slug}'")
    return example


def snapshot(example: Example) -> dict[str, Any]:
    return {
        "messages": example.messages,
        "tags": example.tags,
        "rating": example.rating,
        "status": example.status.value,
        "split": example.split,
    }


def _set_messages(db: Session, project: Project, example: Example, messages: Any) -> None:
    """Validate and hash the conversation the way the import does; 409 when another example
    already holds it."""
    try:
        parsed = parse_record({"messages": messages, "tools": example.tools}, "messages")
    except RecordInvalid as exc:
        raise Invalid(f"field {exc.field}: {exc.message}") from exc
    new_hash = example_hash(parsed.messages, example.tools)  # type: ignore[union-attr]
    clash = db.scalar(
        select(Example.id).where(
            Example.project_id == project.id,
            Example.content_hash == new_hash,
            Example.id != example.id,
        )
    )
    if clash is not None:
        raise Conflict(f"example {clash} already holds exactly this conversation")
    example.messages = parsed.messages  # type: ignore[union-attr]
    example.needs_response = parsed.needs_response  # type: ignore[union-attr]
    example.content_hash = new_hash


def update(
    db: Session, project: Project, example_id: int, user: User, data: ExampleUpdate
) -> Example:
    example = get(db, project, example_id)
    if data.version != example.version:
        raise Conflict(
            f"example {example_id} changed since you loaded it (you edited version "
            f"{data.version}, it is now at {example.version})",
            details={"current": snapshot(example), "current_version": example.version},
        )
    before = snapshot(example)
    changes = data.model_dump(exclude_unset=True, exclude={"version"})
    if "messages" in changes:
        _set_messages(db, project, example, changes["messages"])
    for key in ("tags", "rating", "split"):
        if key in changes:
            setattr(example, key, changes[key])
    after = snapshot(example)
    if after == before:
        return example
    example.updated_by_id = user.id
    example.updated_at = utcnow()
    db.flush()  # bumps `version`, or raises StaleDataError on a concurrent update
    db.add(
        Revision(
            project_id=project.id,
            item_kind=ItemKind.example.value,
            item_id=example.id,
            version=example.version,
            user_id=user.id,
            action="edit",
            before=before,
            after=after,
        )
    )
    if after["messages"] != before["messages"]:
        contamination.recheck_after_edit(db, project, user, ItemKind.example, example.id)
        diversity.rescore_after_edit(db, project, user, ItemKind.example, example.id)
    return example


def revisions(db: Session, project: Project, example_id: int) -> list[Revision]:
    get(db, project, example_id)
    return review_changes.revisions_of(db, ItemKind.example, example_id)


def revert(
    db: Session,
    project: Project,
    user: User,
    example_id: int,
    revision_id: int,
    version: int,
    *,
    before: bool = False,
) -> Example:
    """Restore the example as it was right after revision `revision_id` (before it with
    `before=True`); recorded as a new "revert" revision."""
    kind = ItemKind.example
    example = get(db, project, example_id)
    current = snapshot(example)
    review_changes.check_version(kind, example, version, current)
    target = review_changes.revert_target(
        db, kind, example, revision_id, current, RESTORED, before=before
    )
    if all(target[key] == current[key] for key in RESTORED):
        raise Invalid(f"example {example_id} already is as it was at revision {revision_id}")
    if target["messages"] != current["messages"]:
        _set_messages(db, project, example, target["messages"])
    example.tags = list(target["tags"] or [])
    example.rating = target["rating"]
    review_changes.set_status(db, project, kind, example, ItemStatus(target["status"]))
    point = "before" if before else "after"
    after = {**snapshot(example), "reverted_to": f"{point} revision {revision_id}"}
    review_changes.record(db, project, user, kind, example, "revert", current, after)
    if after["messages"] != current["messages"]:
        review_changes.content_changed(db, project, user, kind, example.id)
    return example
