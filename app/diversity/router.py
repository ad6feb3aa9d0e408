"""Diversity API: start a run and follow it, read the metrics, the map's points, the clusters
and the near-duplicate groups, and act on them (discard duplicates, save a diverse subset, tag
items picked on the map).

Reads come from the latest run that finished with scores (only that run keeps per-item rows).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.auth.policy import ProjectManage, ProjectRead, ProjectReview
from app.diversity import actions, service, tagging
from app.diversity import read_repository as reads
from app.diversity.schemas import (
    ClusterOut,
    ClustersOut,
    DiscardIn,
    DiscardOut,
    DuplicateGroupOut,
    DuplicatesOut,
    Point,
    PointsOut,
    RunCreate,
    RunOut,
    SubsetCreate,
    TagIn,
    TagOut,
)
from app.selections.schemas import SelectionOut
from app.web.deps import SessionDep

router = APIRouter(prefix="/api/projects/{slug}/diversity", tags=["diversity"])


@router.post("/runs", status_code=202)
def start_run(slug: str, data: RunCreate, db: SessionDep, access: ProjectManage) -> RunOut:
    """Embed and score every example and pair; poll GET .../runs/{id} until `finished_at`."""
    run = service.start_run(db, access.required_project, access.required_user, tau=data.tau)
    return RunOut.of(run)


@router.get("/runs/{run_id}")
def get_run(slug: str, run_id: int, db: SessionDep, access: ProjectRead) -> RunOut:
    run = service.get_run(db, access.required_project, run_id)
    return RunOut.of(run, service.run_failure(db, run))


@router.get("/latest")
def latest(slug: str, db: SessionDep, access: ProjectRead) -> RunOut:
    """The latest run with scores: its metrics and how they moved since the run before."""
    return RunOut.of(actions.scored_run(db, access.required_project))


@router.get("/points", response_model=PointsOut)
def points(slug: str, db: SessionDep, access: ProjectRead) -> Response:
    """The 2D map: one point per item with its cluster, status, source and a short preview."""
    run = actions.scored_run(db, access.required_project)
    found = reads.points(db, run)
    body = PointsOut.model_construct(
        run_id=run.id, count=len(found), points=[Point.model_construct(**p) for p in found]
    )
    # Serialised in one pass by pydantic-core: a 50k-item map is ~16 MB of JSON.
    return Response(body.model_dump_json(), media_type="application/json")


@router.get("/clusters")
def clusters(slug: str, db: SessionDep, access: ProjectRead) -> ClustersOut:
    run = actions.scored_run(db, access.required_project)
    return ClustersOut(run_id=run.id, clusters=[ClusterOut.of(c) for c in reads.clusters(db, run)])


@router.get("/duplicates")
def duplicates(
    slug: str,
    db: SessionDep,
    access: ProjectRead,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DuplicatesOut:
    """Near-duplicate groups with their members, by group id."""
    run = actions.scored_run(db, access.required_project)
    groups, total = reads.duplicate_groups(db, run, limit=limit, offset=offset)
    return DuplicatesOut(
        run_id=run.id, total=total, limit=limit, offset=offset,
        groups=[DuplicateGroupOut.of(g) for g in groups],
    )  # fmt: skip


@router.post("/duplicates/discard")
def discard_duplicates(
    slug: str, db: SessionDep, access: ProjectReview, data: DiscardIn | None = None
) -> DiscardOut:
    """Keep one item per near-duplicate group (the highest rated, then the first) and reject
    the others, each with a revision; one group, or every group when `group` is left out."""
    project = access.required_project
    run = actions.scored_run(db, project)
    group = data.group if data else None
    rejected = actions.discard_duplicates(db, project, access.required_user, run, group)
    return DiscardOut(run_id=run.id, rejected=rejected)


@router.post("/subsets", status_code=201)
def save_subset(
    slug: str, data: SubsetCreate, db: SessionDep, access: ProjectManage
) -> SelectionOut:
    """A DEITA-style diverse subset saved as a selection (export it with `selection_id`)."""
    project = access.required_project
    selection = actions.save_subset(
        db, project, access.required_user, actions.scored_run(db, project), name=data.name,
        tau=data.tau, target=data.target, then_by=data.then_by,
    )  # fmt: skip
    return SelectionOut.model_validate(selection)


@router.post("/tag")
def tag_items(slug: str, data: TagIn, db: SessionDep, access: ProjectReview) -> TagOut:
    """Add a tag to the listed examples and pairs (e.g. a box selected on the map)."""
    done = tagging.add_tag(
        db, access.required_project, access.required_user, tag=data.tag,
        examples=data.examples, pairs=data.pairs,
    )  # fmt: skip
    return TagOut(tag=done.tag, tagged=done.tagged, unchanged=done.unchanged)
