"""Adding one tag to many examples and pairs at once (a box or lasso on the diversity map).

Each item that gains the tag gets a new version and a revision (action ``tag``), as an edit
through the examples service would; items that already carry it are left alone. Never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Invalid
from app.items import changes
from app.models import Example, ItemKind, PreferencePair, Project, User
from app.models.base import utcnow

MAX_TAG = 100
_CHUNK = 500
M = TypeVar("M", Example, PreferencePair)


@dataclass(frozen=True, slots=True)
class Tagged:
    tag: str
    tagged: int
    """Items that gained the tag."""
    unchanged: int
    """Items that had it already."""


def clean_tag(tag: str) -> str:
    value = " ".join(tag.split())
    if not value or len(value) > MAX_TAG:
        raise Invalid(f"field tag: between 1 and {MAX_TAG} characters")
    return value


def add_tag(
    db: Session,
    project: Project,
    user: User,
    *,
    tag: str,
    examples: Sequence[int] = (),
    pairs: Sequence[int] = (),
) -> Tagged:
    """Add ``tag`` to the project's items named by id; an id that is not one of the project's
    items makes the whole call fail (nothing is tagged)."""
    value = clean_tag(tag)
    if not examples and not pairs:
        raise Invalid("name at least one example or pair to tag")
    loaded: list[tuple[ItemKind, Sequence[Example | PreferencePair]]] = [
        (ItemKind.example, _load(db, project, Example, examples)),
        (ItemKind.pair, _load(db, project, PreferencePair, pairs)),
    ]
    tagged = unchanged = 0
    now = utcnow()
    for kind, items in loaded:
        changed: list[tuple[Example | PreferencePair, list[str]]] = []
        for item in items:
            before = list(item.tags or [])
            if value in before:
                unchanged += 1
                continue
            item.tags = [*before, value]
            item.updated_by_id = user.id
            item.updated_at = now
            changed.append((item, before))
        db.flush()  # bumps each changed item's version (optimistic locking)
        for item, before in changed:
            changes.add_revision(
                db, project_id=project.id, kind=kind, item_id=item.id,
                version=item.version, user_id=user.id, action="tag",
                before={"tags": before}, after={"tags": list(item.tags)},
            )  # fmt: skip
        tagged += len(changed)
    return Tagged(value, tagged, unchanged)


def _load(db: Session, project: Project, model: type[M], ids: Sequence[int]) -> list[M]:
    """The project's items with these ids; Invalid names the ids that are not among them."""
    wanted = sorted(set(ids))
    out: list[M] = []
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        out.extend(db.scalars(
            select(model).where(model.project_id == project.id, model.id.in_(part))))  # fmt: skip
    missing = set(wanted) - {item.id for item in out}
    if missing:
        kind = "examples" if model is Example else "pairs"
        shown = ", ".join(str(i) for i in sorted(missing)[:10])
        raise Invalid(f"field {kind}: not items of this project: {shown}")
    return out
