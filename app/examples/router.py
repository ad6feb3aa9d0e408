from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.policy import ProjectAnnotate, ProjectRead
from app.examples import listing, service
from app.examples.schemas import ExampleOut, ExampleUpdate, ListFilter, Page
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/examples", tags=["examples"])


@router.get("")
def list_examples(
    slug: str, db: SessionDep, access: ProjectRead, f: Annotated[ListFilter, Query()]
) -> Page[ExampleOut]:
    rows, total, cursor = service.list_examples(db, access.required_project, f)
    return Page(
        items=[ExampleOut.model_validate(r) for r in rows],
        total=total,
        total_is_lower_bound=listing.total_is_capped(f, total),
        next_cursor=cursor,
    )


@router.get("/{example_id}")
def get_example(slug: str, example_id: int, db: SessionDep, access: ProjectRead) -> ExampleOut:
    return ExampleOut.model_validate(service.get(db, access.required_project, example_id))


@router.patch("/{example_id}")
def update_example(
    slug: str, example_id: int, data: ExampleUpdate, db: SessionDep, access: ProjectAnnotate
) -> ExampleOut:
    example = service.update(db, access.required_project, example_id, access.required_user, data)
    return ExampleOut.model_validate(example)
