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
from app.models import Example, ItemKind, Project, Revision, User
from app.models.base import utcnow

TRACKED = ("messages", "tags", "rating", "status", "split")


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
        try:
            parsed = parse_record(
                {"messages": changes["messages"], "tools": example.tools}, "messages"
            )
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
    for key in ("tags", "rating", "status", "split"):
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
    return list(
        db.scalars(
            select(Revision)
            .where(Revision.item_kind == ItemKind.example.value, Revision.item_id == example_id)
            .order_by(Revision.id.desc())
        )
    )
