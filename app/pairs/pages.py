"""Preference pair pages: the list and one pair, chosen beside rejected."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.auth.policy import ProjectRead
from app.examples import listing
from app.pairs import service
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


@router.get("/projects/{slug}/pairs/{pair_id}")
def pair_detail(
    request: Request, slug: str, pair_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    pair = service.get(db, access.required_project, pair_id)
    return render(request, "pairs/detail.html", {"pair": pair})
