"""Contamination API: start a check, follow it, read the overview and the flags, resolve flags.
What it returns is built in `app.contamination.presenters`, shared with the pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.policy import ProjectManage, ProjectRead, ProjectReview
from app.contamination import flags as flag_service
from app.contamination import overview as overviews
from app.contamination import service
from app.contamination.presenters import flag_detail, get_run, run_failure, status_of
from app.contamination.schemas import (
    DismissIn,
    DropIn,
    FlagDetail,
    FlagOut,
    FlagPage,
    FlagSort,
    Method,
    OverviewOut,
    RunCreate,
    RunOut,
    StatusFilter,
)
from app.models import Role
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/contamination", tags=["contamination"])


# -- routes ------------------------------------------------------------------------------------


@router.post("/runs", status_code=202)
def start_run(slug: str, data: RunCreate, db: SessionDep, access: ProjectManage) -> RunOut:
    """Check the project's items against its frozen eval sets: only items changed since their
    last check, or all with `full`. Poll GET .../runs/{id} until `finished_at` is set."""
    run = service.start_check(
        db, access.required_project, access.required_user, eval_set_ids=data.eval_set_ids,
        full=data.full,
    )  # fmt: skip
    return RunOut.of(run)


@router.get("/runs/{run_id}")
def get_run_progress(slug: str, run_id: int, db: SessionDep, access: ProjectRead) -> RunOut:
    run = get_run(db, access.required_project, run_id)
    return RunOut.of(run, run_failure(db, run, access.required_user))


@router.get("/overview")
def get_overview(slug: str, db: SessionDep, access: ProjectRead) -> OverviewOut:
    return OverviewOut.of(overviews.overview(db, access.required_project))


@router.get("/flags")
def list_flags(
    slug: str,
    db: SessionDep,
    access: ProjectRead,
    status: StatusFilter = "open",
    method: Method | None = None,
    eval_set_id: int | None = None,
    sort: FlagSort = "score",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FlagPage:
    flags, total = overviews.list_flags(
        db, access.required_project, status=status_of(status), method=method,
        eval_set_id=eval_set_id, sort=sort, limit=limit, offset=offset,
    )  # fmt: skip
    return FlagPage(
        items=[FlagOut.model_validate(f) for f in flags], total=total, limit=limit, offset=offset
    )


@router.get("/flags/{flag_id}")
def get_flag(slug: str, flag_id: int, db: SessionDep, access: ProjectRead) -> FlagDetail:
    """A flag with the training text, the eval text and the matching spans."""
    project = access.required_project
    flag = flag_service.get_flag(db, project, flag_id)
    role = access.project_role
    reviewer = role is not None and role.rank >= Role.reviewer.rank
    return flag_detail(db, project, flag, show_eval=reviewer)


@router.post("/flags/{flag_id}/dismiss")
def dismiss_flag(
    slug: str, flag_id: int, data: DismissIn, db: SessionDep, access: ProjectReview
) -> FlagOut:
    """A false alarm: the flag is kept as dismissed with your reason (required)."""
    flag = flag_service.dismiss(
        db, access.required_project, flag_id, access.required_user, data.reason
    )
    return FlagOut.model_validate(flag)


@router.post("/flags/{flag_id}/drop")
def drop_flagged_item(
    slug: str, flag_id: int, db: SessionDep, access: ProjectReview, data: DropIn | None = None
) -> FlagOut:
    """Reject the training item that holds the eval item; the flag becomes dropped."""
    flag = flag_service.drop_item(
        db, access.required_project, flag_id, access.required_user, data.reason if data else ""
    )
    return FlagOut.model_validate(flag)
