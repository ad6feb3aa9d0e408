"""Contamination API: start a check, follow it, read the overview and the flags, resolve flags.

The helpers below (`get_run`, `run_failure`, `flag_detail`) are shared with the pages, which
render the same detail the API returns.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from app.auth.policy import ProjectManage, ProjectRead, ProjectReview
from app.contamination import service
from app.contamination.highlight import merged_spans
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
from app.models import (
    ContaminationFlag,
    ContaminationRun,
    FlagStatus,
    Project,
    User,
)
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/contamination", tags=["contamination"])


# -- shared with the pages ---------------------------------------------------------------------


get_run = service.get_run
training_item = service.training_item
training_text = service.training_text


def run_failure(db: Session, run: ContaminationRun, user: User) -> str | None:
    return service.run_failure(db, run)


def flag_detail(db: Session, project: Project, flag: ContaminationFlag) -> FlagDetail:
    item = training_item(db, project, flag)
    text = training_text(item)
    changed = item.content_hash != flag.item_content_hash
    spans = flag.spans or {}
    train_spans = merged_spans(spans.get("train", []), len(text))
    eval_segment = str(spans.get("eval_text") or "")
    # The flag's eval item is in the same project's set (cascade-deleted with it).
    eval_item = service.eval_item(db, flag)
    return FlagDetail(
        **FlagOut.model_validate(flag).model_dump(),
        train_text=text,
        train_changed=changed,
        train_spans=[] if changed else [list(s) for s in train_spans],
        eval_text=eval_item.text if eval_item is not None else eval_segment,
        eval_segment=eval_segment,
        eval_spans=[list(s) for s in merged_spans(spans.get("eval", []), len(eval_segment))],
        eval_position=eval_item.position if eval_item is not None else None,
    )


def status_of(value: str) -> FlagStatus | None:
    return None if value == "all" else FlagStatus(value)


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
    return OverviewOut.of(service.overview(db, access.required_project))


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
    flags, total = service.list_flags(
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
    return flag_detail(db, project, service.get_flag(db, project, flag_id))


@router.post("/flags/{flag_id}/dismiss")
def dismiss_flag(
    slug: str, flag_id: int, data: DismissIn, db: SessionDep, access: ProjectReview
) -> FlagOut:
    """A false alarm: the flag is kept as dismissed with your reason (required)."""
    flag = service.dismiss(db, access.required_project, flag_id, access.required_user, data.reason)
    return FlagOut.model_validate(flag)


@router.post("/flags/{flag_id}/drop")
def drop_flagged_item(
    slug: str, flag_id: int, db: SessionDep, access: ProjectReview, data: DropIn | None = None
) -> FlagOut:
    """Reject the training item that holds the eval item; the flag becomes dropped."""
    flag = service.drop_item(
        db, access.required_project, flag_id, access.required_user, data.reason if data else ""
    )
    return FlagOut.model_validate(flag)
