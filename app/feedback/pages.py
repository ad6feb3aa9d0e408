"""The feedback page: counts, the import form (with the field mapping) and the pairing form."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from app.auth.policy import ProjectManage, ProjectRead
from app.errors import Invalid, PayloadTooLarge
from app.feedback import service
from app.feedback.schemas import FeedbackImportOptions, FieldNames, PairOptions
from app.formats.feedback import FIELDS
from app.imports.uploads import store_upload
from app.models import Role
from app.web.deps import SessionDep, release_before_slow_work
from app.web.pages import redirect_after_post, settings_of, validate_form
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
FIELD_HINTS = {
    "prompt": "the prompt: text, or a message array",
    "messages": "the conversation (may end with the rated assistant turn)",
    "response": "the rated response",
    "rating": "up/down, true/false or 1..5",
    "responses": "the compared responses [a, b]",
    "choice": "which response was picked",
    "id": "the app's log id",
}
DEFAULT_PAIRING = {"mode": "all", "max_per_prompt": "10", "with_context": ""}


def _page(
    request: Request,
    db: SessionDep,
    form: dict[str, str],
    errors: dict[str, str],
    pairing: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    access = request.state.access
    context = {
        "stats": service.stats(db, access.required_project),
        "form": form,
        "errors": errors,
        "pairing": pairing or dict(DEFAULT_PAIRING),
        "fields": [(f, FIELD_HINTS[f]) for f in FIELDS],
        "can_manage": access.project_role is not None
        and access.project_role.rank >= Role.engineer.rank,
        "max_bytes": settings_of(request).upload_max_bytes,
    }
    return render(request, "feedback/page.html", context, status_code=status_code)


@router.get("/projects/{slug}/feedback")
def feedback_page(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    remembered = service.mapping(db, access.required_project).model_dump()
    form = {f"{k}_field": v or "" for k, v in remembered.items()}
    return _page(request, db, form, {})


@router.post("/projects/{slug}/feedback/import")
def upload(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile | None, File()] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    prompt_field: Annotated[str, Form()] = "",
    messages_field: Annotated[str, Form()] = "",
    response_field: Annotated[str, Form()] = "",
    rating_field: Annotated[str, Form()] = "",
    responses_field: Annotated[str, Form()] = "",
    choice_field: Annotated[str, Form()] = "",
    id_field: Annotated[str, Form()] = "",
) -> Response:
    given = {"prompt": prompt_field, "messages": messages_field, "response": response_field,
             "rating": rating_field, "responses": responses_field, "choice": choice_field,
             "id": id_field}  # fmt: skip
    form = {f"{k}_field": v.strip() for k, v in given.items()}
    form["skip_invalid"] = "on" if skip_invalid else ""
    names, errors = validate_form(FieldNames, given)
    errors = {f"{k}_field": v for k, v in errors.items()}
    if file is None or not file.filename:
        errors["file"] = "choose a feedback file to import"
    if names is None or file is None or errors:
        return _page(request, db, form, errors, status_code=422)
    settings = settings_of(request)
    name = file.filename or "feedback"
    release_before_slow_work(db)
    try:
        path = store_upload(file.file, name, settings.upload_dir, settings.upload_max_bytes)
    except (Invalid, PayloadTooLarge) as exc:
        return _page(request, db, form, {"file": exc.message}, status_code=422)
    options = FeedbackImportOptions(fields=names, skip_invalid=skip_invalid)
    job = service.start_import(
        db, access.required_project, access.required_user, path, name, options
    )
    return redirect_after_post(request, f"/jobs/{job.id}")


@router.post("/projects/{slug}/feedback/pair")
def pair(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    mode: Annotated[str, Form()] = "all",
    max_per_prompt: Annotated[str, Form()] = "10",
    with_context: Annotated[bool, Form()] = False,
) -> Response:
    pairing = {"mode": mode, "max_per_prompt": max_per_prompt,
               "with_context": "on" if with_context else ""}  # fmt: skip
    options, errors = validate_form(
        PairOptions,
        {
            "mode": mode,
            "max_per_prompt": max_per_prompt.strip() or "10",
            "with_context": with_context,
        },
    )
    if options is None:
        remembered = service.mapping(db, access.required_project).model_dump()
        form = {f"{k}_field": v or "" for k, v in remembered.items()}
        return _page(request, db, form, errors, pairing, status_code=422)
    job = service.start_pairing(db, access.required_project, access.required_user, options)
    return redirect_after_post(request, f"/jobs/{job.id}")
