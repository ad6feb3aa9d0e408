from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth import fields
from app.auth.policy import ProjectAnnotate, ProjectRead, ProjectReview
from app.examples import service
from app.examples.schemas import ExampleOut, ExampleUpdate
from app.items import listing
from app.items.schemas import ListFilter, Page, RevertIn
from app.models import Role
from app.pairs import service as pairs
from app.pairs.schemas import PairFromExample, PairOut
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
    fields.require_roles(data, access, rating=Role.reviewer, split=Role.engineer)
    example = service.update(db, access.required_project, example_id, access.required_user, data)
    return ExampleOut.model_validate(example)


@router.post("/{example_id}/revert")
def revert_example(
    slug: str, example_id: int, data: RevertIn, db: SessionDep, access: ProjectReview
) -> ExampleOut:
    """Restore the example as it was right after a revision (or before it, with `before`)."""
    example = service.revert(
        db,
        access.required_project,
        access.required_user,
        example_id,
        data.revision_id,
        data.version,
        before=data.before,
    )
    return ExampleOut.model_validate(example)


@router.post("/{example_id}/pairs", status_code=201)
def pair_from_example(
    slug: str, example_id: int, data: PairFromExample, db: SessionDep, access: ProjectAnnotate
) -> PairOut:
    """Make a preference pair: the example's last assistant turn against your alternative."""
    pair = pairs.create_from_example(
        db,
        access.required_project,
        access.required_user,
        example_id,
        data.alternative,
        data.better,
    )
    return PairOut.model_validate(pair)
