from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from app.auth.policy import ProjectManage, ProjectRead, ProjectReview
from app.evalsets import service
from app.evalsets.schemas import (
    EvalItemOut,
    EvalSetCreate,
    EvalSetOut,
    EvalSetUpdate,
    FreezeOut,
    ItemPage,
    header_choice,
    split_fields,
)
from app.evalsets.uploads import uploaded_file
from app.models import EvalSet
from app.web.deps import SessionDep
from app.web.pages import settings_of

router = APIRouter(prefix="/api/projects/{slug}/eval-sets", tags=["eval sets"])

EvalFile = Annotated[
    UploadFile,
    File(description="JSONL, JSON, CSV (with or without a header), Parquet, or gzip of those"),
]
FieldsForm = Annotated[
    list[str] | None,
    Form(description="text fields to compare, repeated or comma-separated (default: every "
         "string field)"),
]  # fmt: skip
HeaderForm = Annotated[
    str | None, Form(description="CSV header row: true, false or auto (default: detected)")
]


def _out(db: Session, eval_set: EvalSet) -> EvalSetOut:
    return EvalSetOut.of(eval_set, service.item_count(db, eval_set))


@router.get("")
def list_eval_sets(slug: str, db: SessionDep, access: ProjectRead) -> list[EvalSetOut]:
    sets = service.list_for(db, access.required_project)
    counts = service.item_counts(db, sets)
    return [EvalSetOut.of(s, counts[s.id]) for s in sets]


@router.post("", status_code=201)
def create_eval_set(
    slug: str,
    request: Request,
    db: SessionDep,
    access: ProjectManage,
    file: EvalFile,
    name: Annotated[str, Form(max_length=200)],
    fields: FieldsForm = None,
    header: HeaderForm = None,
) -> EvalSetOut:
    """Upload a benchmark file as a new, unfrozen eval set (the next version when the name is
    taken). All-or-nothing: a bad record answers 422 naming its line and field."""
    data = EvalSetCreate(name=name, text_fields=split_fields(fields), header=header_choice(header))
    filename = file.filename or "upload"
    with uploaded_file(file.file, filename, settings_of(request)) as path:
        eval_set = service.create_from_file(
            db, access.required_project, access.required_user, name=data.name, path=path,
            fields=data.text_fields, header=data.header, display_name=filename,
        )  # fmt: skip
    return _out(db, eval_set)


@router.get("/{eval_set_id}")
def get_eval_set(slug: str, eval_set_id: int, db: SessionDep, access: ProjectRead) -> EvalSetOut:
    return _out(db, service.get(db, access.required_project, eval_set_id))


@router.patch("/{eval_set_id}")
def update_eval_set(
    slug: str, eval_set_id: int, data: EvalSetUpdate, db: SessionDep, access: ProjectManage
) -> EvalSetOut:
    """Rename an unfrozen set or change its text fields; 409 once frozen."""
    eval_set = service.get(db, access.required_project, eval_set_id)
    service.update(db, eval_set, name=data.name, text_fields=data.text_fields)
    return _out(db, eval_set)


@router.delete("/{eval_set_id}", status_code=204)
def delete_eval_set(slug: str, eval_set_id: int, db: SessionDep, access: ProjectManage) -> Response:
    """Delete an unfrozen set; 409 once frozen."""
    service.delete(db, service.get(db, access.required_project, eval_set_id))
    return Response(status_code=204)


@router.get("/{eval_set_id}/items")
def list_items(
    slug: str,
    eval_set_id: int,
    db: SessionDep,
    access: ProjectReview,
    start: Annotated[int, Query(ge=0, description="first position (0-based)")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ItemPage:
    """The items' text: reviewers and above (annotators write training data, so they never
    read eval items; the set's name and item count are visible to every member)."""
    eval_set = service.get(db, access.required_project, eval_set_id)
    rows, total, next_start = service.items(db, eval_set, start=start, limit=limit)
    return ItemPage(
        items=[EvalItemOut.model_validate(r) for r in rows], total=total, next_start=next_start
    )


@router.put("/{eval_set_id}/items")
def replace_items(
    slug: str,
    eval_set_id: int,
    request: Request,
    db: SessionDep,
    access: ProjectManage,
    file: EvalFile,
    fields: FieldsForm = None,
    header: HeaderForm = None,
) -> EvalSetOut:
    """Re-upload an unfrozen set's file (items replaced; no `fields`: keep the set's); 409 once
    frozen."""
    eval_set = service.get(db, access.required_project, eval_set_id)
    wanted = split_fields(fields) if fields is not None else None
    filename = file.filename or "upload"
    with uploaded_file(file.file, filename, settings_of(request)) as path:
        service.replace_items(
            db, eval_set, path=path, fields=wanted, header=header_choice(header),
            display_name=filename,
        )  # fmt: skip
    return _out(db, eval_set)


@router.post("/{eval_set_id}/freeze")
def freeze_eval_set(
    slug: str, eval_set_id: int, db: SessionDep, access: ProjectManage
) -> FreezeOut:
    """Freeze the set (content hash fixed, never changes again) and queue its `eval_index`
    job; 409 when already frozen."""
    eval_set = service.get(db, access.required_project, eval_set_id)
    job = service.freeze(db, eval_set, access.required_user)
    return FreezeOut.of(eval_set, service.item_count(db, eval_set), job_id=job.id)


@router.post("/{eval_set_id}/versions", status_code=201)
def new_version(
    slug: str,
    eval_set_id: int,
    request: Request,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile | None, File(description="a changed file (default: copy)")] = None,
    fields: FieldsForm = None,
    header: HeaderForm = None,
) -> EvalSetOut:
    """A new, unfrozen version of the set: a copy of its items, or the records of `file`."""
    eval_set = service.get(db, access.required_project, eval_set_id)
    wanted = split_fields(fields) if fields is not None else None
    user = access.required_user
    if file is None or not file.filename:
        created = service.new_version(db, eval_set, user, fields=wanted)
    else:
        with uploaded_file(file.file, file.filename, settings_of(request)) as path:
            created = service.new_version(
                db, eval_set, user, path, wanted, header=header_choice(header),
                display_name=file.filename,
            )  # fmt: skip
    return _out(db, created)
