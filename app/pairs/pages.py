"""Preference pair pages: the list, one pair (chosen beside rejected, its history with diffs and
reverts), and the page where an annotator makes a pair from an SFT example."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectAnnotate, ProjectRead, ProjectReview
from app.errors import Conflict, Invalid
from app.items import listing
from app.items import repository as items
from app.items.history import revision_rows
from app.models import Example, Role
from app.pairs import service
from app.pairs.schemas import ALTERNATIVE_MAX, PairFromExample
from app.web.deps import SessionDep
from app.web.pages import (
    VARY_HTMX,
    list_context,
    list_filter,
    list_template,
    preview,
    redirect_after_post,
    settings_of,
    validate_form,
)
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/projects/{slug}/pairs")
def pairs(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    project = access.required_project
    page_filter, kept = list_filter(request, settings_of(request).page_size)
    rows, total, next_cursor = service.list_pairs(db, project, page_filter)
    context = {
        "rows": [(pair, preview(pair.prompt)) for pair in rows],
        "total": total,
        "total_capped": listing.total_is_capped(page_filter, total),
        **list_context(request, kept, next_cursor),
    }
    return render(request, list_template(request, "pairs"), context, headers=VARY_HTMX)


def _detail_page(
    request: Request,
    db: Session,
    access: Access,
    pair_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    pair = service.get(db, project, pair_id)
    context = {
        "pair": pair,
        "revisions": revision_rows(db, service.revisions(db, project, pair_id)),
        "can_review": access.has_project_role(Role.reviewer),
        "revert_url": f"/projects/{project.slug}/pairs/{pair_id}/revert",
        "error": error,
    }
    return render(request, "pairs/detail.html", context, status_code=status_code)


@router.get("/projects/{slug}/pairs/{pair_id}")
def pair_detail(
    request: Request, slug: str, pair_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    return _detail_page(request, db, access, pair_id)


@router.post("/projects/{slug}/pairs/{pair_id}/revert")
def revert_pair(
    request: Request,
    slug: str,
    pair_id: int,
    db: SessionDep,
    access: ProjectReview,
    revision_id: Annotated[int, Form()],
    version: Annotated[int, Form()],
    before: Annotated[bool, Form()] = False,
) -> Response:
    project = access.required_project
    try:
        service.revert(
            db, project, access.required_user, pair_id, revision_id, version, before=before
        )
    except (Conflict, Invalid) as exc:
        return _detail_page(
            request, db, access, pair_id, error=exc.message, status_code=exc.status_code
        )
    return redirect_after_post(request, f"/projects/{slug}/pairs/{pair_id}#history")


def _new_pair_page(
    request: Request,
    db: Session,
    access: Access,
    example_id: int,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    example = items.get_in_project(db, Example, access.required_project, example_id)
    last = max(
        (i for i, m in enumerate(example.messages) if m.get("role") == "assistant"), default=-1
    )
    context = {
        "example": example,
        "prompt": example.messages[:last] if last > 0 else example.messages,
        "original": example.messages[last] if last > 0 else None,
        "possible": service.can_make_pair(example),
        "form": form or {"alternative": "", "better": ""},
        "errors": errors or {},
        "alternative_max": ALTERNATIVE_MAX,
    }
    return render(request, "pairs/new.html", context, status_code=status_code)


@router.get("/projects/{slug}/examples/{example_id}/pair/new")
def new_pair_form(
    request: Request, slug: str, example_id: int, db: SessionDep, access: ProjectAnnotate
) -> Response:
    return _new_pair_page(request, db, access, example_id)


@router.post("/projects/{slug}/examples/{example_id}/pair/new")
def create_pair(
    request: Request,
    slug: str,
    example_id: int,
    db: SessionDep,
    access: ProjectAnnotate,
    alternative: Annotated[str, Form()] = "",
    better: Annotated[str, Form()] = "",
) -> Response:
    # Browsers send textarea line breaks as CRLF; store what was typed.
    form = {"alternative": alternative.replace("\r\n", "\n"), "better": better}
    data, errors = validate_form(PairFromExample, form)
    if data is not None and not data.alternative.strip():
        errors = {"alternative": "write the alternative response"}
    if data is None or errors:
        if "better" in errors:
            errors["better"] = "say which response is better"
        return _new_pair_page(
            request, db, access, example_id, form=form, errors=errors, status_code=422
        )
    try:
        pair = service.create_from_example(
            db,
            access.required_project,
            access.required_user,
            example_id,
            data.alternative,
            data.better,
        )
    except (Conflict, Invalid) as exc:
        return _new_pair_page(
            request,
            db,
            access,
            example_id,
            form=form,
            errors={"form": exc.message},
            status_code=exc.status_code,
        )
    return redirect_after_post(request, f"/projects/{slug}/pairs/{pair.id}?created=1")
