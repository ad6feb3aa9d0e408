"""Reading preference pairs (review and editing arrive with the annotation issue)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.errors import NotFound
from app.examples.listing import list_items
from app.examples.schemas import ListFilter
from app.models import PreferencePair, Project


def list_pairs(
    db: Session, project: Project, f: ListFilter
) -> tuple[list[PreferencePair], int, str | None]:
    return list_items(db, PreferencePair, project.id, f)


def get(db: Session, project: Project, pair_id: int) -> PreferencePair:
    pair = db.get(PreferencePair, pair_id)
    if pair is None or pair.project_id != project.id:
        raise NotFound(f"pair {pair_id} not found in project '{project.slug}'")
    return pair
