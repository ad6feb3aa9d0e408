"""Feedback API: import a log, make pairs, read the counts, the remembered field names and the
feedback rows behind a pair."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile

from app.auth.policy import ProjectManage, ProjectRead
from app.feedback import service
from app.feedback.schemas import (
    FeedbackImportOptions,
    FeedbackStats,
    FieldNames,
    PairOptions,
    PairProvenance,
)
from app.imports.uploads import store_upload
from app.jobs.schemas import JobOut
from app.web.deps import SessionDep, release_before_slow_work

router = APIRouter(prefix="/api/projects/{slug}/feedback", tags=["feedback"])
_FIELD = "file field holding the {} (default: the project's remembered name, else '{}')"


@router.post("/imports", status_code=202)
def create_import(
    slug: str,
    request: Request,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile, File(description="JSONL, CSV, Parquet, or a gzip of those")],
    skip_invalid: Annotated[bool, Form()] = False,
    prompt_field: Annotated[str, Form(description=_FIELD.format("prompt", "prompt"))] = "",
    messages_field: Annotated[str, Form(description=_FIELD.format("messages", "messages"))] = "",
    response_field: Annotated[str, Form(description=_FIELD.format("response", "response"))] = "",
    rating_field: Annotated[str, Form(description=_FIELD.format("rating", "rating"))] = "",
    responses_field: Annotated[
        str, Form(description=_FIELD.format("compared responses", "responses"))
    ] = "",
    choice_field: Annotated[str, Form(description=_FIELD.format("pick", "choice"))] = "",
    id_field: Annotated[str, Form(description=_FIELD.format("log id", "id"))] = "",
) -> JobOut:
    """Upload a feedback log; the import runs as a job (poll GET /api/jobs/{id}). Field names
    given here are remembered for the project's next import."""
    given = {"prompt": prompt_field, "messages": messages_field, "response": response_field,
             "rating": rating_field, "responses": responses_field, "choice": choice_field,
             "id": id_field}  # fmt: skip
    project = access.required_project
    names = FieldNames.model_validate(given) if any(v.strip() for v in given.values()) else None
    options = FeedbackImportOptions(
        fields=service.resolve_mapping(db, project, names), skip_invalid=skip_invalid
    )
    settings = request.app.state.settings
    name = file.filename or "feedback"
    release_before_slow_work(db)
    path = store_upload(file.file, name, settings.upload_dir, settings.upload_max_bytes)
    job = service.start_import(db, project, access.required_user, path, name, options)
    return JobOut.model_validate(job)


@router.post("/pairings", status_code=202)
def create_pairing(slug: str, data: PairOptions, db: SessionDep, access: ProjectManage) -> JobOut:
    """Turn rated responses into preference pairs (submitted, for review) as a job."""
    job = service.start_pairing(db, access.required_project, access.required_user, data)
    return JobOut.model_validate(job)


@router.get("")
def feedback_stats(slug: str, db: SessionDep, access: ProjectRead) -> FeedbackStats:
    """Volume, share up/down, prompts with both (pairable), pairs made."""
    return service.stats(db, access.required_project)


@router.get("/mapping")
def get_mapping(slug: str, db: SessionDep, access: ProjectRead) -> FieldNames:
    return service.mapping(db, access.required_project)


@router.put("/mapping")
def set_mapping(slug: str, data: FieldNames, db: SessionDep, access: ProjectManage) -> FieldNames:
    service.remember_mapping(db, access.required_project, data)
    return service.mapping(db, access.required_project)


@router.get("/pairs/{pair_id}")
def pair_provenance(slug: str, pair_id: int, db: SessionDep, access: ProjectRead) -> PairProvenance:
    """The feedback rows (log ids, file, line, rating) a pair was made from."""
    return service.provenance(db, access.required_project, pair_id)
