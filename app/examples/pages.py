"""SFT example pages: the filtered, keyset-paginated list and one example with its history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth.policy import ProjectRead
from app.examples import listing, service
from app.models import Revision
from app.users import service as users
from app.web.deps import SessionDep
from app.web.pages import (
    VARY_HTMX,
    list_context,
    list_filter,
    list_template,
    preview,
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


def revision_rows(db: SessionDep, revisions: list[Revision]) -> list[dict[str, Any]]:
    """Each revision with its author's email and the names of the fields it changed."""
    emails: dict[int, str] = {}
    rows = []
    for revision in revisions:
        author = None
        if revision.user_id is not None:
            if revision.user_id not in emails:
                found = users.get(db, revision.user_id)
                emails[revision.user_id] = found.email if found else f"user {revision.user_id}"
            author = emails[revision.user_id]
        before, after = revision.before or {}, revision.after or {}
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        rows.append({"revision": revision, "author": author, "changed": changed})
    return rows


@router.get("/projects/{slug}/examples/{example_id}")
def example_detail(
    request: Request, slug: str, example_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    project = access.required_project
    example = service.get(db, project, example_id)
    context = {
        "example": example,
        "revisions": revision_rows(db, service.revisions(db, project, example_id)),
    }
    return render(request, "examples/detail.html", context)
