"""The import form: upload a file into a project; the import runs as a job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from app.auth.policy import ProjectManage
from app.errors import Invalid, PayloadTooLarge
from app.formats import FORMATS
from app.imports.schemas import ImportOptions
from app.imports.uploads import start_import, store_upload
from app.models import ItemStatus, Source
from app.web.deps import SessionDep, release_before_slow_work
from app.web.pages import redirect_after_post, settings_of, validate_form
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
# Complete rows start pending (in the labeling queue), submitted (waiting for review) or approved.
IMPORT_STATUSES = (ItemStatus.draft, ItemStatus.submitted, ItemStatus.approved)
STATUS_LABELS = {ItemStatus.draft: "pending (labeling queue)"}
DEFAULT_FORM = {"format": "", "source": Source.imported.value, "status": ItemStatus.submitted.value}


def _import_page(
    request: Request, form: dict[str, str], errors: dict[str, str], status_code: int = 200
) -> Response:
    context = {
        "form": form,
        "errors": errors,
        "format_options": [("", "auto-detect"), *((name, name) for name in FORMATS)],
        "sources": [s for s in Source if s is not Source.feedback],  # feedback: app/feedback
        "statuses": [(s.value, STATUS_LABELS.get(s, s.value)) for s in IMPORT_STATUSES],
        "max_bytes": settings_of(request).upload_max_bytes,
    }
    return render(
        request, "imports/form.html", context, partial="imports/_form.html", status_code=status_code
    )


@router.get("/projects/{slug}/import")
def import_form(request: Request, slug: str, access: ProjectManage) -> Response:
    return _import_page(request, dict(DEFAULT_FORM), {})


def _check_options(form: dict[str, str]) -> tuple[ImportOptions | None, dict[str, str]]:
    options, errors = validate_form(
        ImportOptions,
        {
            "format": form["format"] or None,
            "source": form["source"],
            "generator": form["generator"] or None,
            "skip_invalid": form["skip_invalid"] == "on",
            "status": form["status"],
        },
    )
    if form["format"] and form["format"] not in FORMATS:
        errors.setdefault(
            "format", f"unknown format; use auto-detect or one of {', '.join(FORMATS)}"
        )
    if form["status"] not in IMPORT_STATUSES:
        errors.setdefault("status", "imported rows start as pending, submitted or approved")
    if form["generator"] and form["source"] != Source.synthetic.value:
        errors.setdefault("generator", "a generator only applies to synthetic rows")
    return (options if not errors else None), errors


@router.post("/projects/{slug}/import")
def upload(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile | None, File()] = None,
    format: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = Source.imported.value,
    generator: Annotated[str, Form()] = "",
    skip_invalid: Annotated[bool, Form()] = False,
    status: Annotated[str, Form()] = ItemStatus.submitted.value,
) -> Response:
    form = {
        "format": format.strip(),
        "source": source,
        "generator": generator.strip(),
        "skip_invalid": "on" if skip_invalid else "",
        "status": status,
    }
    options, errors = _check_options(form)
    if file is None or not file.filename:
        errors["file"] = "choose a file to import"
    if options is None or file is None or errors:
        return _import_page(request, form, errors, 422)
    settings = settings_of(request)
    name = file.filename or "upload"
    release_before_slow_work(db)
    try:
        path = store_upload(file.file, name, settings.upload_dir, settings.upload_max_bytes)
    except (Invalid, PayloadTooLarge) as exc:
        return _import_page(request, form, {"file": exc.message}, 422)
    job = start_import(db, access.required_project, access.required_user, path, name, options)
    return redirect_after_post(request, f"/jobs/{job.id}")
