"""Contamination pages: the overview (what was checked, open flags per set and method, the
run form and a live progress bar), the flag table, and one flag with the training text and the
eval item side by side, matching runs highlighted, for reviewers to dismiss or drop."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectManage, ProjectRead, ProjectReview
from app.contamination import flags as flag_service
from app.contamination import overview as overviews
from app.contamination import service
from app.contamination.highlight import highlight
from app.contamination.names import METHODS
from app.contamination.presenters import (
    flag_detail,
    get_run,
    run_failure,
    status_of,
    training_item,
)
from app.contamination.schemas import REASON_MAX
from app.errors import Invalid
from app.evalsets import service as evalsets
from app.models import ContaminationFlag, ContaminationRun, EvalItem, EvalSet, ItemKind, Role
from app.users import service as users
from app.web.deps import SessionDep
from app.web.pages import VARY_HTMX, query_string, redirect_after_post, settings_of
from app.web.templating import is_htmx, render

router = APIRouter(tags=["pages"], include_in_schema=False)
SORTS = ("score", "jaccard", "containment", "cosine", "method", "newest")
STATUSES = ("open", "dismissed", "dropped", "all")


def _role_at_least(access: Access, role: Role) -> bool:
    return access.project_role is not None and access.project_role.rank >= role.rank


def _base(slug: str) -> str:
    return f"/projects/{slug}/contamination"


def _flag_filter(request: Request) -> tuple[dict[str, Any], dict[str, str]]:
    """The table's filter from the query string (service arguments, and the values to keep in
    links); a bad value is a 422 naming the parameter."""
    query = request.query_params
    kept = {k: query[k].strip() for k in ("status", "method", "eval_set", "sort")
            if query.get(k, "").strip()}  # fmt: skip
    status = kept.get("status", "open")
    if status not in STATUSES:
        raise Invalid(f"status: use one of {', '.join(STATUSES)}")
    method = kept.get("method")
    if method is not None and method not in METHODS:
        raise Invalid(f"method: use one of {', '.join(METHODS)}")
    sort = kept.get("sort", "score")
    if sort not in SORTS:
        raise Invalid(f"sort: use one of {', '.join(SORTS)}")
    try:
        eval_set_id = int(kept["eval_set"]) if "eval_set" in kept else None
        offset = max(int(query.get("offset", "0")), 0)
    except ValueError:
        raise Invalid("eval_set and offset are numbers") from None
    args = {"status": status_of(status), "method": method, "eval_set_id": eval_set_id,
            "sort": sort, "offset": offset}  # fmt: skip
    return args, kept


def _eval_items(db: Session, flags: list[ContaminationFlag]) -> dict[int, EvalItem]:
    found = (flag_service.eval_item(db, f) for f in flags)
    return {item.id: item for item in found if item is not None}


def _item_url(slug: str, flag: ContaminationFlag) -> str:
    if flag.item_kind is ItemKind.example:
        return f"/projects/{slug}/examples/{flag.example_id}"
    return f"/projects/{slug}/pairs/{flag.pair_id}"


def _percent(run: ContaminationRun) -> int:
    if run.finished_at is not None:
        return 100
    return round(100 * run.done / run.total) if run.total else 0


def _progress_context(db: Session, access: Access, run: ContaminationRun) -> dict[str, Any]:
    return {
        "run": run,
        "percent": _percent(run),
        "failure": run_failure(db, run, access.required_user),
        "base": _base(access.required_project.slug),
    }


def _overview_page(
    request: Request,
    db: Session,
    access: Access,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    view = overviews.overview(db, project)
    args, kept = _flag_filter(request)
    limit = settings_of(request).page_size
    flags, total = overviews.list_flags(db, project, limit=limit, **args)
    offset = args["offset"]
    sets: dict[int, EvalSet] = {s.eval_set.id: s.eval_set for s in view.sets}
    running = view.running
    context: dict[str, Any] = {
        "view": view,
        "sets": sets,
        "flags": flags,
        "total": total,
        "offset": offset,
        "limit": limit,
        "eval_items": _eval_items(db, flags),
        "item_urls": {f.id: _item_url(project.slug, f) for f in flags},
        "filters": kept,
        "query_string": query_string,
        "prev_query": query_string(kept, offset=str(max(offset - limit, 0))) if offset else None,
        "next_query": (
            query_string(kept, offset=str(offset + limit)) if offset + limit < total else None
        ),
        "sorts": SORTS,
        "statuses": STATUSES,
        "methods": METHODS,
        "base": _base(project.slug),
        "can_manage": _role_at_least(access, Role.engineer),
        "form": form or {"eval_set_ids": list(sets), "full": False},
        "errors": errors or {},
        **(_progress_context(db, access, running) if running else {}),
    }
    return render(
        request,
        "contamination/overview.html",
        context,
        partial="contamination/_flags.html",
        status_code=status_code,
        headers=VARY_HTMX,
    )


@router.get("/projects/{slug}/contamination")
def contamination_page(
    request: Request, slug: str, db: SessionDep, access: ProjectRead
) -> Response:
    return _overview_page(request, db, access)


@router.post("/projects/{slug}/contamination/runs")
def start_run(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    eval_set_ids: Annotated[list[int] | None, Form()] = None,
    full: Annotated[bool, Form()] = False,
) -> Response:
    chosen = list(dict.fromkeys(eval_set_ids or []))
    form = {"eval_set_ids": chosen, "full": full}
    errors: dict[str, str] = {}
    if not chosen:
        errors["eval_set_ids"] = "choose at least one frozen eval set"
    else:
        try:
            service.start_check(
                db, access.required_project, access.required_user, eval_set_ids=chosen, full=full
            )
        except Invalid as exc:
            errors["eval_set_ids"] = exc.message
    if errors:
        return _overview_page(request, db, access, form=form, errors=errors, status_code=422)
    return redirect_after_post(request, _base(slug))


@router.get("/projects/{slug}/contamination/runs/{run_id}/progress")
def run_progress(
    request: Request, slug: str, run_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    """The progress partial, polled every second while the run goes; once it has finished the
    page reloads itself (htmx) to show the new numbers."""
    run = get_run(db, access.required_project, run_id)
    headers = {"HX-Refresh": "true"} if run.finished_at is not None and is_htmx(request) else None
    context = _progress_context(db, access, run)
    return render(request, "contamination/_progress.html", context, headers=headers)


def _detail_page(
    request: Request,
    db: Session,
    access: Access,
    flag: ContaminationFlag,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    detail = flag_detail(db, project, flag, show_eval=_role_at_least(access, Role.reviewer))
    # A changed item is shown plain (autoescaped): the stored offsets index older text.
    train_html: str = (
        detail.train_text
        if detail.train_changed
        else highlight(detail.train_text, detail.train_spans)
    )
    # Mark the matched runs inside the whole eval item when the matched segment is a part of it.
    at = detail.eval_text.find(detail.eval_segment) if detail.eval_segment else -1
    eval_html = (
        highlight(detail.eval_text, [[s + at, e + at] for s, e in detail.eval_spans])
        if at >= 0 and detail.eval_segment
        else None
    )
    resolver = users.get(db, flag.resolved_by_id) if flag.resolved_by_id else None
    context: dict[str, Any] = {
        "flag": flag,
        "detail": detail,
        "item": training_item(db, project, flag),
        "item_url": _item_url(project.slug, flag),
        "eval_set": evalsets.get(db, project, flag.eval_set_id),
        "train_html": train_html,
        "eval_html": eval_html,
        "segment_html": highlight(detail.eval_segment, detail.eval_spans),
        "resolver": resolver,
        "can_review": _role_at_least(access, Role.reviewer),
        "base": _base(project.slug),
        "form": form or {"reason": ""},
        "errors": errors or {},
        "reason_max": REASON_MAX,
    }
    return render(request, "contamination/flag.html", context, status_code=status_code)


@router.get("/projects/{slug}/contamination/flags/{flag_id}")
def flag_page(
    request: Request, slug: str, flag_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    flag = flag_service.get_flag(db, access.required_project, flag_id)
    return _detail_page(request, db, access, flag)


@router.post("/projects/{slug}/contamination/flags/{flag_id}/dismiss")
def dismiss_flag(
    request: Request,
    slug: str,
    flag_id: int,
    db: SessionDep,
    access: ProjectReview,
    reason: Annotated[str, Form()] = "",
) -> Response:
    project = access.required_project
    flag = flag_service.get_flag(db, project, flag_id)
    form = {"reason": reason}
    error = None
    if not reason.strip():
        error = "say why this is not contamination"
    elif len(reason) > REASON_MAX:
        error = f"at most {REASON_MAX:,} characters"
    if error:
        return _detail_page(
            request, db, access, flag, form=form, errors={"reason": error}, status_code=422
        )
    flag_service.dismiss(db, project, flag_id, access.required_user, reason)
    return redirect_after_post(request, f"{_base(slug)}/flags/{flag_id}")


@router.post("/projects/{slug}/contamination/flags/{flag_id}/drop")
def drop_item(
    request: Request,
    slug: str,
    flag_id: int,
    db: SessionDep,
    access: ProjectReview,
    reason: Annotated[str, Form(max_length=REASON_MAX)] = "",
) -> Response:
    flag_service.drop_item(db, access.required_project, flag_id, access.required_user, reason)
    return redirect_after_post(request, f"{_base(slug)}/flags/{flag_id}")
