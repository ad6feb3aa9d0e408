"""Evaluation over JSON (bearer tokens): the gate policy, runs, their results, gap examples.

Reading needs the reviewer role (results hold eval items' text); configuring and starting or
cancelling runs needs the engineer role.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.policy import ProjectManage, ProjectReview
from app.eval_runs import gaps, results, service
from app.eval_runs.schemas import (
    EvaluationCreate,
    EvaluationItemPage,
    EvaluationOut,
    GapExampleIn,
    GatePolicyOut,
    GatePolicyUpdate,
)
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/evaluation", tags=["evaluation"])


@router.get("/policy")
def get_policy(slug: str, db: SessionDep, access: ProjectReview) -> GatePolicyOut:
    """The gate policy and each frozen eval set's scorer settings (defaults where unset)."""
    return service.get_policy(db, access.required_project)


@router.put("/policy")
def put_policy(
    slug: str, data: GatePolicyUpdate, db: SessionDep, access: ProjectManage
) -> GatePolicyOut:
    return service.update_policy(db, access.required_project, access.required_user, data)


@router.post("/runs", status_code=202)
def start_run(
    slug: str, data: EvaluationCreate, db: SessionDep, access: ProjectManage
) -> EvaluationOut:
    """Queue an evaluation; poll GET .../runs/{id} for its progress, report and verdict."""
    run = service.create_run(db, access.required_project, access.required_user, data)
    return EvaluationOut.model_validate(run)


@router.get("/runs")
def list_runs(
    slug: str,
    db: SessionDep,
    access: ProjectReview,
    training_run_id: Annotated[int | None, Query(description="runs of one training run")] = None,
) -> list[EvaluationOut]:
    runs = service.list_runs(db, access.required_project, training_run_id)
    return [EvaluationOut.model_validate(r) for r in runs]


@router.get("/runs/{run_id}")
def get_run(slug: str, run_id: int, db: SessionDep, access: ProjectReview) -> EvaluationOut:
    return EvaluationOut.model_validate(service.get_run(db, access.required_project, run_id))


@router.get("/runs/{run_id}/results")
def get_results(
    slug: str,
    run_id: int,
    db: SessionDep,
    access: ProjectReview,
    eval_set_id: int | None = None,
    regressions: Annotated[bool, Query(description="base right, tune wrong only")] = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> EvaluationItemPage:
    """Each eval item with every model's output and score, side by side."""
    run = service.get_run(db, access.required_project, run_id)
    return results.page(db, run, eval_set_id=eval_set_id, regressions=regressions,
                        offset=offset, limit=limit)  # fmt: skip


@router.post("/runs/{run_id}/cancel", status_code=202)
def cancel_run(slug: str, run_id: int, db: SessionDep, access: ProjectManage) -> EvaluationOut:
    run = service.request_cancel(db, service.get_run(db, access.required_project, run_id))
    return EvaluationOut.model_validate(run)


@router.post("/runs/{run_id}/items/{eval_item_id}/example", status_code=201)
def write_gap_example(
    slug: str,
    run_id: int,
    eval_item_id: int,
    data: GapExampleIn,
    db: SessionDep,
    access: ProjectReview,
) -> dict[str, int | str]:
    """A new draft example for this item's gap, tagged eval-gap:<set>:<category>."""
    project = access.required_project
    run = service.get_run(db, project, run_id)
    example = gaps.write_example(db, project, access.required_user, run, eval_item_id,
                                 data.prompt, data.response)  # fmt: skip
    return {"example_id": example.id, "tag": example.tags[0]}
