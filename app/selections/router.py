"""REST endpoints for selections: list, create from item ids, read with the ids, delete."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.auth.policy import ProjectManage, ProjectRead
from app.models import ItemKind
from app.selections import service
from app.selections.schemas import SelectionCreate, SelectionItems, SelectionOut
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/selections", tags=["selections"])


@router.get("")
def list_selections(slug: str, db: SessionDep, access: ProjectRead) -> list[SelectionOut]:
    return [SelectionOut.model_validate(s) for s in service.list_for(db, access.required_project)]


@router.post("", status_code=201)
def create_selection(
    slug: str, data: SelectionCreate, db: SessionDep, access: ProjectManage
) -> SelectionOut:
    selection = service.create(
        db, access.required_project, access.required_user, name=data.name,
        description=data.description, examples=data.examples, pairs=data.pairs,
    )  # fmt: skip
    return SelectionOut.model_validate(selection)


@router.get("/{selection_id}")
def get_selection(
    slug: str, selection_id: int, db: SessionDep, access: ProjectRead
) -> SelectionItems:
    selection = service.get(db, access.required_project, selection_id)
    return SelectionItems(
        **SelectionOut.model_validate(selection).model_dump(),
        examples=service.item_ids(db, selection, ItemKind.example),
        pairs=service.item_ids(db, selection, ItemKind.pair),
    )


@router.delete("/{selection_id}", status_code=204)
def delete_selection(
    slug: str, selection_id: int, db: SessionDep, access: ProjectManage
) -> Response:
    service.delete(db, access.required_project, selection_id)
    return Response(status_code=204)
