"""The Diversity tab: the dataset metrics with their change since the previous run, the run
form and its live progress, the 2D map (drawn by static/diversity.js from the points API), the
clusters, the near-duplicate groups with "keep one, discard the rest", and the diverse-subset
form that saves a selection for exports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from app.auth.access import Access
from app.auth.policy import ProjectManage, ProjectRead, ProjectReview
from app.diversity import actions, service
from app.diversity import read_repository as reads
from app.diversity.schemas import RunCreate, SubsetCreate
from app.diversity.subset import TAU
from app.errors import AppError, Conflict, Invalid, NotFound
from app.models import DiversityRun, Role, Selection
from app.selections import service as selections
from app.web.deps import SessionDep
from app.web.pages import redirect_after_post, validate_form
from app.web.templating import is_htmx, render

router = APIRouter(tags=["pages"], include_in_schema=False)
GROUPS_PER_PAGE = 25

# (metrics key, label, format, which way is better)
METRICS = (
    ("n_items", "items", "int", None),
    ("vendi_score", "Vendi score", "float", "up"),
    ("n_clusters", "clusters", "int", None),
    ("near_duplicate_share", "near-duplicate share", "pct", "down"),
    ("mean_novelty", "mean novelty", "float", "up"),
    ("largest_cluster_share", "largest cluster share", "pct", "down"),
)


def _base(slug: str) -> str:
    return f"/projects/{slug}/diversity"


def _role_at_least(access: Access, role: Role) -> bool:
    return access.project_role is not None and access.project_role.rank >= role.rank


def _show(value: Any, fmt: str) -> str:
    if value is None:
        return "—"
    if fmt == "int":
        return f"{int(value):,}"
    if fmt == "pct":
        return f"{float(value):.1%}"
    return f"{float(value):.3f}"


def _delta(change: dict[str, Any] | None, fmt: str, better: str | None) -> dict[str, str] | None:
    """How a metric moved since the previous run, for the metrics card."""
    if not change:
        return None
    delta = float(change.get("delta") or 0.0)
    if abs(delta) < 1e-9:
        return {"text": "no change", "direction": "same", "tone": ""}
    if fmt == "int":
        size = f"{abs(delta):,.0f}"
    elif fmt == "pct":
        size = f"{abs(delta) * 100:.1f} pp"
    else:
        size = f"{abs(delta):.3f}"
    direction = "up" if delta > 0 else "down"
    tone = "" if better is None else ("good" if better == direction else "bad")
    arrow = "▲" if delta > 0 else "▼"
    return {"text": f"{arrow} {size}", "direction": direction, "tone": tone}


def metric_cards(run: DiversityRun) -> list[dict[str, Any]]:
    metrics = run.metrics or {}
    changes = metrics.get("changes") or {}
    return [
        {"key": key, "label": label, "value": _show(metrics.get(key), fmt),
         "delta": _delta(changes.get(key), fmt, better) if changes else None}
        for key, label, fmt, better in METRICS
    ]  # fmt: skip


def _percent(run: DiversityRun) -> int:
    if run.finished_at is not None:
        return 100
    if run.phase == "scoring":
        return 95
    return round(90 * run.done / run.total) if run.total else 0


def _progress_context(db: Session, access: Access, run: DiversityRun) -> dict[str, Any]:
    return {
        "run": run,
        "percent": _percent(run),
        "failure": service.run_failure(db, run),
        "base": _base(access.required_project.slug),
    }


def _int_param(request: Request, name: str) -> int | None:
    try:
        value = int(request.query_params.get(name, ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _saved_subset(db: Session, access: Access, request: Request) -> Selection | None:
    selection_id = _int_param(request, "subset")
    if selection_id is None:
        return None
    try:
        return selections.get(db, access.required_project, selection_id)
    except NotFound:
        return None


def _page(
    request: Request,
    db: Session,
    access: Access,
    *,
    run_form: dict[str, str] | None = None,
    run_errors: dict[str, str] | None = None,
    subset_form: dict[str, str] | None = None,
    subset_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    project = access.required_project
    scored = reads.scored_run(db, project)
    current = reads.current_run(db, project)
    latest = service.latest(db, project)
    offset = _int_param(request, "groups") or 0
    groups, total_groups = (
        reads.duplicate_groups(db, scored, limit=GROUPS_PER_PAGE, offset=offset)
        if scored
        else ([], 0)
    )
    base = _base(project.slug)
    tau = str(scored.params.get("tau", TAU)) if scored else str(TAU)
    context: dict[str, Any] = {
        "base": base,
        "api": f"/api/projects/{project.slug}/diversity",
        "scored": scored,
        "cards": metric_cards(scored) if scored else [],
        "has_changes": bool(scored and (scored.metrics or {}).get("changes")),
        "last_failed": latest if latest is not None and latest.failed else None,
        "clusters": reads.clusters(db, scored) if scored else [],
        "groups": groups,
        "total_groups": total_groups,
        "groups_offset": offset,
        "groups_per_page": GROUPS_PER_PAGE,
        "item_path": reads.item_path,
        "can_manage": _role_at_least(access, Role.engineer),
        "can_review": _role_at_least(access, Role.reviewer),
        "run_form": run_form or {"tau": tau},
        "run_errors": run_errors or {},
        "subset_form": subset_form or {"name": "", "tau": tau, "target": "", "then_by": "novelty"},
        "subset_errors": subset_errors or {},
        "saved_subset": _saved_subset(db, access, request),
        "discarded": _int_param(request, "discarded"),
        **(_progress_context(db, access, current) if current else {}),
    }
    return render(request, "diversity/overview.html", context, status_code=status_code)


@router.get("/projects/{slug}/diversity")
def diversity_page(request: Request, slug: str, db: SessionDep, access: ProjectRead) -> Response:
    return _page(request, db, access)


def _field_errors(exc: AppError, default: str) -> dict[str, str]:
    """A service error ("field tau: ...") as a message next to that field."""
    field, _, message = exc.message.partition(": ")
    if field.startswith("field ") and message:
        return {field.removeprefix("field "): message}
    return {default: exc.message}


@router.post("/projects/{slug}/diversity/runs")
def start_run(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    tau: Annotated[str, Form()] = str(TAU),
) -> Response:
    form = {"tau": tau.strip()}
    data, errors = validate_form(RunCreate, form)
    if data is not None:
        try:
            service.start_run(db, access.required_project, access.required_user, tau=data.tau)
        except Invalid as exc:
            errors = _field_errors(exc, "tau")
    if data is None or errors:
        return _page(request, db, access, run_form=form, run_errors=errors, status_code=422)
    return redirect_after_post(request, _base(slug))


@router.get("/projects/{slug}/diversity/runs/{run_id}/progress")
def run_progress(
    request: Request, slug: str, run_id: int, db: SessionDep, access: ProjectRead
) -> Response:
    """The progress partial, polled every second while the run goes; once it has finished the
    page reloads itself (htmx) to show the new metrics and map."""
    run = service.get_run(db, access.required_project, run_id)
    failure = service.run_failure(db, run)
    done = run.finished_at is not None or failure is not None
    headers = {"HX-Refresh": "true"} if done and is_htmx(request) else None
    return render(
        request, "diversity/_progress.html", _progress_context(db, access, run), headers=headers
    )


@router.post("/projects/{slug}/diversity/duplicates/discard")
def discard_duplicates(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectReview,
    group: Annotated[str, Form()] = "",
) -> Response:
    """Keep one item of a near-duplicate group (or of every group) and reject the rest."""
    project = access.required_project
    try:
        chosen = int(group) if group.strip() else None
    except ValueError:
        raise Invalid("group: a group number, or nothing for every group") from None
    run = actions.scored_run(db, project)
    rejected = actions.discard_duplicates(db, project, access.required_user, run, chosen)
    return redirect_after_post(request, f"{_base(slug)}?discarded={rejected}#duplicates")


@router.post("/projects/{slug}/diversity/subsets")
def save_subset(
    request: Request,
    slug: str,
    db: SessionDep,
    access: ProjectManage,
    name: Annotated[str, Form()] = "",
    tau: Annotated[str, Form()] = str(TAU),
    target: Annotated[str, Form()] = "",
    then_by: Annotated[str, Form()] = "novelty",
) -> Response:
    project = access.required_project
    form = {"name": name, "tau": tau.strip(), "target": target.strip(), "then_by": then_by}
    values = {**form, "target": form["target"] or None}
    data, errors = validate_form(SubsetCreate, values)
    selection = None
    if data is not None:
        try:
            selection = actions.save_subset(
                db, project, access.required_user, actions.scored_run(db, project), name=data.name,
                tau=data.tau, target=data.target, then_by=data.then_by,
            )  # fmt: skip
        except Conflict as exc:
            errors = {"name": exc.message}
        except Invalid as exc:
            errors = _field_errors(exc, "name")
    if selection is None:
        return _page(request, db, access, subset_form=form, subset_errors=errors, status_code=422)
    return redirect_after_post(request, f"{_base(slug)}?subset={selection.id}#subset")
