"""SFT example pages: the filtered, keyset-paginated list and one example with its history
(readable diffs; reviewers can revert to any revision)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectRead, ProjectReview
from app.errors import Conflict, Invalid
from app.examples import service
from app.items import listing
from app.items.history import revision_rows
from app.models import Role
from app.pairs import service as pairs
from app.web.deps import SessionDep
from app.web.pages import (
    VARY_HTMX,
    list_context,
    list_filter,
    list_template,
    preview,
    redirect_after_post,
    settings_of,
)
from app.web.templating import render

router = APIRouter(tags=["pages"], include_in_schema=False)


@router.get("/projects/{slug}/examples")
def examples(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    project = access.required_project
    page_filter, kept = list_filter(request, settings_of(request).page_size)
    rows, total, next_cursor = service.list_examples(db, project, page_filter)
    context = {
        "rows": [(example, preview(example.messages)) for example in rows],
        "total": total,
        "total_capped": listing.total_is_capped(page_filter, total),
        **list_context(request, kept, next_cursor),
    }
    return render(request, list_template(request, "examples"), context, headers=VARY_HTMX)


def _detail_page(
    request: Request,
    db: Session,
    access: Access,
    example_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    example = service.get(db, project, example_id)
    context = {
        "example": example,
        "revisions": revision_rows(db, service.revisions(db, project, example_id)),
        "can_review": access.has_project_role(Role.reviewer),
        "can_make_pair": pairs.can_make_pair(example),
        "revert_url": f"/projects/{project.slug}/examples/{example_id}/revert",
        "error": error,
    }
    return render(request, "examples/detail.html", context, status_code=status_code)


@router.get("/projects/{slug}/examples/{example_id}")
def example_detail(
    request: Request, slug: str, example_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    return _detail_page(request, db, access, example_id)


@router.post("/projects/{slug}/examples/{example_id}/revert")
def revert_example(
    request: Request,
    slug: str,
    example_id: int,
    db: SessionDep,
    access: ProjectReview,
    revision_id: Annotated[int, Form()],
    version: Annotated[int, Form()],
    before: Annotated[bool, Form()] = False,
) -> Response:
    """Revert from the history list; a stale page or a no-op shows the reason above it."""
    project = access.required_project
    try:
        service.revert(
            db, project, access.required_user, example_id, revision_id, version, before=before
        )
    except (Conflict, Invalid) as exc:
        return _detail_page(
            request, db, access, example_id, error=exc.message, status_code=exc.status_code
        )
    return redirect_after_post(request, f"/projects/{slug}/examples/{example_id}#history")
