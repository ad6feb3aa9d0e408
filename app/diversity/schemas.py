from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, Field

from app.diversity.read_repository import ClusterView, GroupView, ItemBrief
from app.diversity.subset import TAU
from app.diversity.tagging import MAX_TAG
from app.models import DiversityRun, ItemKind, ItemStatus
from app.selections.service import MAX_NAME

ThenBy = Literal["novelty", "length"]
MAX_ITEMS = 1_000_000


class RunCreate(BaseModel):
    tau: float = Field(
        default=TAU,
        gt=0.0,
        le=1.0,
        description="cosine above which two items count as near duplicates; subsets can later "
        "use any tau from this one up to 1",
    )


class Change(BaseModel):
    previous: float
    current: float
    delta: float


class RunOut(BaseModel):
    id: int
    phase: str = Field(description="embedding | scoring | done")
    total: int = Field(description="items to embed (set by the planning job)")
    done: int = Field(description="items embedded so far")
    tau: float
    metrics: dict[str, Any] | None = Field(
        description="dataset metrics once scored: n_items, vendi_score, n_clusters, "
        "cluster_sizes, largest_cluster_share, duplicate_groups, near_duplicate_share, "
        "mean_nn_similarity, mean_novelty, length, ..."
    )
    changes: dict[str, Change] | None = Field(
        description="how each numeric metric moved since the previous run (metric paths such "
        "as length.words.mean); null for a project's first run"
    )
    failed: str | None = Field(description="why the run failed, when it did")
    model_id: str
    started_at: datetime
    finished_at: datetime | None
    job_id: int | None = Field(description="the planning job")
    created_by_id: int | None

    @classmethod
    def of(cls, run: DiversityRun, failed: str | None = None) -> Self:
        metrics = dict(run.metrics) if run.metrics is not None else None
        changes = metrics.pop("changes", None) if metrics is not None else None
        return cls(
            id=run.id,
            phase=run.phase,
            total=run.total,
            done=run.done,
            tau=float(run.params.get("tau", TAU)),
            metrics=metrics,
            changes=changes,
            failed=run.failed or failed,
            model_id=run.model_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            job_id=run.job_id,
            created_by_id=run.created_by_id,
        )


class Point(BaseModel):
    kind: ItemKind
    id: int
    x: float
    y: float
    cluster: int | None
    status: ItemStatus
    source: str
    dup_group: int | None = Field(description="near-duplicate group, if any")
    nn_sim: float | None = Field(description="cosine to the nearest neighbour")
    novelty: float | None
    preview: str = Field(description="the first user turn as plain text, at most 120 characters")


class PointsOut(BaseModel):
    run_id: int
    count: int
    points: list[Point] = Field(description="one per scored item, in the run's order")


class ItemRef(BaseModel):
    kind: ItemKind
    id: int
    status: ItemStatus
    preview: str

    @classmethod
    def of(cls, brief: ItemBrief) -> Self:
        return cls(kind=brief.kind, id=brief.id, status=brief.status, preview=brief.preview)


class ClusterOut(BaseModel):
    id: int
    size: int
    approved: int
    share_approved: float = Field(description="approved items / size")
    samples: list[ItemRef] = Field(description="up to 3 typical items (lowest novelty)")

    @classmethod
    def of(cls, view: ClusterView) -> Self:
        return cls(
            id=view.id,
            size=view.size,
            approved=view.approved,
            share_approved=view.share_approved,
            samples=[ItemRef.of(s) for s in view.samples],
        )


class ClustersOut(BaseModel):
    run_id: int
    clusters: list[ClusterOut] = Field(description="largest first")


class DuplicateMember(ItemRef):
    nn_sim: float | None
    rating: int | None
    keep: bool = Field(description="the member a discard keeps: the highest rated, then the first")


class DuplicateGroupOut(BaseModel):
    id: int
    to_discard: int = Field(description="members a discard would reject now")
    members: list[DuplicateMember]

    @classmethod
    def of(cls, group: GroupView) -> Self:
        return cls(
            id=group.id,
            to_discard=group.to_discard,
            members=[
                DuplicateMember(
                    **ItemRef.of(m.item).model_dump(),
                    nn_sim=m.nn_sim,
                    rating=m.item.rating,
                    keep=m.keep,
                )
                for m in group.members
            ],
        )


class DuplicatesOut(BaseModel):
    run_id: int
    total: int = Field(description="near-duplicate groups in the run")
    limit: int
    offset: int
    groups: list[DuplicateGroupOut]


class DiscardIn(BaseModel):
    group: int | None = Field(default=None, description="one group; every group when left out")


class DiscardOut(BaseModel):
    run_id: int
    rejected: int = Field(description="items set to rejected (each with a revision)")


class SubsetCreate(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME)
    tau: float = Field(default=TAU, gt=0.0, le=1.0)
    target: int | None = Field(default=None, ge=1, description="stop after this many items")
    then_by: ThenBy = Field(default="novelty", description="order after the rating")


class TagIn(BaseModel):
    tag: str = Field(min_length=1, max_length=MAX_TAG)
    examples: list[int] = Field(default_factory=list, max_length=MAX_ITEMS)
    pairs: list[int] = Field(default_factory=list, max_length=MAX_ITEMS)


class TagOut(BaseModel):
    tag: str
    tagged: int = Field(description="items that gained the tag")
    unchanged: int = Field(description="items that had it already")
