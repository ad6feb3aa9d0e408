"""Eval set pages: the list with its upload form, and a set with its content hash, items and
the manager's actions (freeze, new version, edit or delete while unfrozen)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectManage, ProjectRead
from app.errors import Conflict, Invalid, PayloadTooLarge
from app.evalsets import service
from app.evalsets.schemas import EvalSetCreate, header_choice, split_fields
from app.evalsets.uploads import uploaded_file
from app.models import EvalSet, Role
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, settings_of, validate_form
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)
HEADER_CHOICES = [("auto", "detect"), ("true", "yes"), ("false", "no")]
ACCEPT = ".jsonl,.json,.csv,.tsv,.parquet,.gz"
DEFAULT_FORM = {"name": "", "fields": "", "header": "auto"}


def _can_manage(access: Access) -> bool:
    return access.project_role is not None and access.project_role.rank >= Role.engineer.rank


def _can_read_items(access: Access) -> bool:
    """Eval items' text: reviewers and above. Annotators write training data, so reading eval
    items would risk contaminating it; they see a set's name, state and item count only."""
    return access.project_role is not None and access.project_role.rank >= Role.reviewer.rank


def _base(request: Request) -> str:
    return f"/projects/{request.path_params['slug']}/eval-sets"


def _list_page(
    request: Request,
    db: Session,
    access: Access,
    form: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    sets = service.list_for(db, access.required_project)
    context = {
        "form": form,
        "errors": errors,
        "eval_sets": sets,
        "counts": service.item_counts(db, sets),
        "header_choices": HEADER_CHOICES,
        "accept": ACCEPT,
        "can_manage": _can_manage(access),
        "max_bytes": settings_of(request).upload_max_bytes,
    }
    return render(
        request,
        "evalsets/list.html",
        context,
        partial="evalsets/_form.html",
        status_code=status_code,
    )


@router.get("/projects/{slug}/eval-sets")
def eval_sets_page(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    return _list_page(request, db, access, dict(DEFAULT_FORM), {})


def _from_upload(
    request: Request, upload: UploadFile, errors: dict[str, str], read: Callable[[Path], EvalSet]
) -> EvalSet | None:
    """`read(path)` with the upload on disk; None, with the file's error set, when the upload
    or the reader refuses it (the reader's message, naming the line and field)."""
    try:
        with uploaded_file(upload.file, upload.filename or "upload", settings_of(request)) as path:
            return read(path)
    except (Invalid, PayloadTooLarge) as exc:
        errors["file"] = exc.message
        return None


@router.post("/projects/{slug}/eval-sets")
def create_eval_set(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile | None, File()] = None,
    name: Annotated[str, Form()] = "",
    fields: Annotated[str, Form()] = "",
    header: Annotated[str, Form()] = "auto",
) -> Response:
    form = {"name": name.strip(), "fields": fields, "header": header}
    data, errors = _check(form)
    if file is None or not file.filename:
        errors["file"] = "choose an eval set file"
    if data is None or file is None or errors:
        return _list_page(request, db, access, form, errors, 422)
    filename = file.filename
    eval_set = _from_upload(
        request, file, errors,
        lambda path: service.create_from_file(
            db, access.required_project, access.required_user, name=data.name, path=path,
            fields=data.text_fields, header=data.header, display_name=filename,
        ),
    )  # fmt: skip
    if eval_set is None:
        return _list_page(request, db, access, form, errors, 422)
    return redirect_after_post(request, f"{_base(request)}/{eval_set.id}")


def _check(form: dict[str, str]) -> tuple[EvalSetCreate | None, dict[str, str]]:
    try:
        header = header_choice(form["header"])
    except Invalid as exc:
        return None, {"header": exc.message}
    values = {"name": form["name"], "text_fields": split_fields(form["fields"]), "header": header}
    return validate_form(EvalSetCreate, values)


def _detail_page(
    request: Request,
    db: Session,
    access: Access,
    eval_set: EvalSet,
    *,
    forms: dict[str, dict[str, str]] | None = None,
    errors: dict[str, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        start = max(int(request.query_params.get("start", "0")), 0)
    except ValueError:
        raise Invalid("start: give an item position (0 or more)") from None
    limit = settings_of(request).page_size
    if _can_read_items(access):
        rows, total, next_start = service.items(db, eval_set, start=start, limit=limit)
    else:
        rows, total, next_start = [], service.item_count(db, eval_set), None
    fields_text = ", ".join(eval_set.text_fields)
    defaults = {
        "edit": {"name": eval_set.name, "fields": fields_text, "header": "auto"},
        "version": {"fields": fields_text, "header": "auto"},
    }
    versions = [s for s in service.list_for(db, access.required_project) if s.name == eval_set.name]
    context: dict[str, Any] = {
        "eval_set": eval_set,
        "items": rows,
        "total": total,
        "start": start,
        "next_start": next_start,
        "prev_start": max(start - limit, 0) if start > 0 else None,
        "versions": sorted(versions, key=lambda s: s.version),
        "can_manage": _can_manage(access),
        "can_read_items": _can_read_items(access),
        "forms": {**defaults, **(forms or {})},
        "errors": {"edit": {}, "version": {}, **(errors or {})},
        "header_choices": HEADER_CHOICES,
        "accept": ACCEPT,
        "base": _base(request),
    }
    return render(request, "evalsets/detail.html", context, status_code=status_code)


@router.get("/projects/{slug}/eval-sets/{eval_set_id}")
def eval_set_page(
    request: Request, slug: str, eval_set_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    eval_set = service.get(db, access.required_project, eval_set_id)
    return _detail_page(request, db, access, eval_set)


@router.post("/projects/{slug}/eval-sets/{eval_set_id}/freeze")
def freeze(
    request: Request, slug: str, eval_set_id: int, db: SessionDep, access: ProjectManage
) -> Response:
    eval_set = service.get(db, access.required_project, eval_set_id)
    service.freeze(db, eval_set, access.required_user)
    return redirect_after_post(request, f"{_base(request)}/{eval_set.id}")


@router.post("/projects/{slug}/eval-sets/{eval_set_id}/versions")
def new_version(
    request: Request,
    slug: str,
    eval_set_id: int,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile | None, File()] = None,
    fields: Annotated[str, Form()] = "",
    header: Annotated[str, Form()] = "auto",
) -> Response:
    eval_set = service.get(db, access.required_project, eval_set_id)
    user = access.required_user
    form = {"fields": fields, "header": header}
    errors: dict[str, str] = {}
    wanted = split_fields(fields)
    created: EvalSet | None = None
    try:
        choice = header_choice(header)
    except Invalid as exc:
        errors["header"] = exc.message
    else:
        if file is not None and file.filename:
            filename = file.filename
            created = _from_upload(
                request, file, errors,
                lambda path: service.new_version(
                    db, eval_set, user, path, wanted, header=choice, display_name=filename
                ),
            )  # fmt: skip
        else:
            try:
                created = service.new_version(db, eval_set, user, fields=wanted)
            except Invalid as exc:
                errors["fields"] = exc.message
    if created is None:
        return _detail_page(
            request, db, access, eval_set, forms={"version": form}, errors={"version": errors},
            status_code=422,
        )  # fmt: skip
    return redirect_after_post(request, f"{_base(request)}/{created.id}")


@router.post("/projects/{slug}/eval-sets/{eval_set_id}/edit")
def edit(
    request: Request,
    slug: str,
    eval_set_id: int,
    db: SessionDep,
    access: ProjectManage,
    file: Annotated[UploadFile | None, File()] = None,
    name: Annotated[str, Form()] = "",
    fields: Annotated[str, Form()] = "",
    header: Annotated[str, Form()] = "auto",
) -> Response:
    """Rename an unfrozen set, change its fields, or re-upload its file (items replaced)."""
    eval_set = service.get(db, access.required_project, eval_set_id)
    form = {"name": name.strip(), "fields": fields, "header": header}
    data, errors = _check(form)
    done: EvalSet | None = None
    if data is not None:
        try:
            if file is not None and file.filename:
                filename = file.filename
                done = _from_upload(
                    request, file, errors,
                    lambda path: service.update(
                        db, eval_set, name=data.name, text_fields=data.text_fields, path=path,
                        header=data.header, display_name=filename,
                    ),
                )  # fmt: skip
            else:
                done = service.update(db, eval_set, name=data.name, text_fields=data.text_fields)
        except Invalid as exc:
            errors["fields"] = exc.message
        except Conflict as exc:
            if eval_set.frozen_at is not None:
                raise
            errors["name"] = exc.message
    if done is None:
        return _detail_page(
            request, db, access, eval_set, forms={"edit": form}, errors={"edit": errors},
            status_code=422,
        )  # fmt: skip
    return redirect_after_post(request, f"{_base(request)}/{eval_set.id}")


@router.post("/projects/{slug}/eval-sets/{eval_set_id}/delete")
def delete(
    request: Request, slug: str, eval_set_id: int, db: SessionDep, access: ProjectManage
) -> Response:
    service.delete(db, service.get(db, access.required_project, eval_set_id))
    return redirect_after_post(request, _base(request))
