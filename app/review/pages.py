"""Review pages: the queue of submitted examples and pairs with filters, bulk approve/reject
with a confirmation step, and the jump to the next item. The review view of one item lives in
`app.review.item_pages`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectReview
from app.errors import Conflict, Invalid
from app.items.kinds import parse_kind
from app.models import Source
from app.projects import service as projects
from app.review import bulk, item_pages, service
from app.review.schemas import QueueFilter, QueuePage
from app.web.deps import SessionDep
from app.web.pages import VARY_HTMX, field_errors, preview, query_string, settings_of
from app.web.templating import is_htmx, render

router = APIRouter(tags=["pages"], include_in_schema=False)
FILTER_KEYS = ("kind", "source", "tag", "min_rating", "annotator")


def queue_filter(values: Any) -> tuple[QueueFilter, dict[str, str]]:
    """The queue filter from a query string or form (empty means "any") and the values to keep
    in links; a bad value is a 422 naming the field."""
    kept = {k: str(values[k]).strip() for k in FILTER_KEYS if str(values.get(k) or "").strip()}
    try:
        return QueueFilter.model_validate(kept), kept
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {v}" for k, v in field_errors(exc).items())
        raise Invalid(f"bad review filter ({problems})") from exc


def _base(slug: str) -> str:
    return f"/projects/{slug}/review"


def _filter_options(db: Session, access: Access) -> dict[str, Any]:
    members = projects.members(db, access.required_project)
    return {
        "kinds": ("example", "pair"),
        "sources": list(Source),
        "annotators": [(user.id, user.email) for user, _ in members],
    }


def _queue_page(
    request: Request,
    db: Session,
    access: Access,
    *,
    bulk: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    f, kept = queue_filter(request.query_params)
    after = request.query_params.get("after") or None
    page = QueuePage(**f.model_dump(), after=after, limit=settings_of(request).page_size)
    result = service.queue(db, project, page)
    rows = [(entry, preview(item_pages.item_text(entry.item))) for entry in result.entries]
    context: dict[str, Any] = {
        "rows": rows,
        "total": result.total,
        "filters": kept,
        "filter_query": query_string(kept),
        "next_query": query_string(kept, after=result.next_cursor) if result.next_cursor else None,
        "paged": bool(after),
        "base": _base(project.slug),
        "bulk": bulk,
        **_filter_options(db, access),
    }
    if is_htmx(request) and after:
        return render(request, "review/_rows.html", context, headers=VARY_HTMX)
    return render(
        request,
        "review/queue.html",
        context,
        partial="review/_table.html",
        status_code=status_code,
        headers=VARY_HTMX,
    )


@router.get("/projects/{slug}/review")
def review_queue(request: Request, slug: str, db: SessionDep, access: ProjectReview) -> Response:
    return _queue_page(request, db, access)


@router.get("/projects/{slug}/review/next")
def review_next(request: Request, slug: str, db: SessionDep, access: ProjectReview) -> Response:
    """Jump to the next item this reviewer can act on after `from` (kind-id) in queue order."""
    f, kept = queue_filter(request.query_params)
    current = None
    kind_name, _, ident = request.query_params.get("from", "").partition("-")
    if kind_name and ident.isdigit():
        current = (parse_kind(kind_name), int(ident))
    found = service.next_item(db, access.required_project, access.required_user, f, current)
    # a decision that moved the reviewer on: its notice travels to where they land
    params = request.query_params
    decided = (
        {"done": params.get("done", ""), "decided": params["decided"]}
        if params.get("decided")
        else {}
    )
    if found is None:
        target = f"{_base(slug)}?{query_string(kept, done='empty')}"
    else:
        kind, item_id = found
        target = item_pages.item_url(slug, kind, item_id, {**kept, **decided})
    return RedirectResponse(target, status_code=303)


@router.post("/projects/{slug}/review/bulk")
def review_bulk(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectReview,
    action: Annotated[str, Form()] = "",
    expected_count: Annotated[str, Form()] = "",
    kind: Annotated[str, Form()] = "",
    source: Annotated[str, Form()] = "",
    tag: Annotated[str, Form()] = "",
    min_rating: Annotated[str, Form()] = "",
    annotator: Annotated[str, Form()] = "",
) -> Response:
    """Step one (no expected_count): count what the filter matches and ask for confirmation.
    Step two: apply; a count that changed meanwhile asks again with the new count."""
    project = access.required_project
    f, kept = queue_filter(
        {"kind": kind, "source": source, "tag": tag, "min_rating": min_rating,
         "annotator": annotator}
    )  # fmt: skip
    if action not in ("approve", "reject"):
        raise Invalid("action: use approve or reject")
    verb: Any = action
    context: dict[str, Any] = {
        "action": action,
        "filters": kept,
        "filter_query": query_string(kept),
        "base": _base(slug),
        **_filter_options(db, access),
    }
    if not expected_count.strip():
        count = bulk.bulk_count(db, project, f)
        return render(request, "review/bulk.html", {**context, "count": count, "step": "confirm"})
    try:
        expected = int(expected_count)
    except ValueError:
        raise Invalid("expected_count: a number") from None
    try:
        result = bulk.bulk(db, project, access.required_user, verb, f, expected)
    except Conflict as exc:
        count = int((exc.details or {}).get("count", 0))
        return render(
            request,
            "review/bulk.html",
            {**context, "count": count, "step": "confirm", "error": exc.message},
            status_code=409,
        )
    return render(request, "review/bulk.html", {**context, "result": result, "step": "done"})


router.include_router(item_pages.router)
