"""Creating, reading and deleting selections. Never commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.models import ItemKind, Project, Selection, User
from app.models.base import utcnow
from app.selections import repository

MAX_NAME = 200


def create(
    db: Session,
    project: Project,
    user: User | None,
    *,
    name: str,
    examples: Sequence[int] = (),
    pairs: Sequence[int] = (),
    origin: str = "manual",
    description: str = "",
    params: dict[str, Any] | None = None,
) -> Selection:
    """A named, immutable set of this project's items. Every id must be one of the project's
    items (nothing is stored otherwise); the name is unique in the project."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise Invalid(f"field name: between 1 and {MAX_NAME} characters")
    if repository.by_name(db, project.id, name) is not None:
        raise Conflict(f"a selection named '{name}' already exists in this project")
    for kind, ids in ((ItemKind.example, examples), (ItemKind.pair, pairs)):
        missing = set(ids) - repository.existing_ids(db, project.id, kind, ids)
        if missing:
            shown = ", ".join(str(i) for i in sorted(missing)[:10])
            raise Invalid(f"field {kind.value}s: not items of this project: {shown}")
    if not examples and not pairs:
        raise Invalid("a selection needs at least one item")
    selection = Selection(
        project_id=project.id,
        name=name,
        description=description,
        origin=origin,
        params=params or {},
        item_count=len(set(examples)) + len(set(pairs)),
        created_by_id=user.id if user else None,
        created_at=utcnow(),
    )
    db.add(selection)
    db.flush()
    repository.add_items(db, selection.id, ItemKind.example, sorted(set(examples)))
    repository.add_items(db, selection.id, ItemKind.pair, sorted(set(pairs)))
    return selection


def get(db: Session, project: Project, selection_id: int) -> Selection:
    selection = repository.get(db, project.id, selection_id)
    if selection is None:
        raise NotFound(f"selection {selection_id} not found in project '{project.slug}'")
    return selection


def list_for(db: Session, project: Project) -> list[Selection]:
    return repository.for_project(db, project.id)


def item_ids(db: Session, selection: Selection, kind: ItemKind) -> list[int]:
    return repository.item_ids(db, selection.id, kind)


def delete(db: Session, project: Project, selection_id: int) -> None:
    repository.remove(db, get(db, project, selection_id))
