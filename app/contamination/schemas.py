from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from app.contamination.overview import Overview
from app.models import ContaminationRun, FlagStatus, ItemKind

Method = Literal["minhash", "containment", "embedding"]
FlagSort = Literal["score", "jaccard", "containment", "cosine", "method", "newest"]
StatusFilter = Literal["open", "dismissed", "dropped", "all"]
REASON_MAX = 2000


class RunCreate(BaseModel):
    eval_set_ids: list[int] | None = Field(
        default=None, max_length=1000, description="frozen eval sets to check (default: all)"
    )
    full: bool = Field(
        default=False, description="re-check every item, not only those changed since their check"
    )


class RunOut(BaseModel):
    id: int
    eval_set_ids: list[int]
    full: bool
    total: int = Field(description="items to check (set by the planning job)")
    done: int
    flags: int = Field(description="new flags found so far")
    failed: str | None = Field(description="why the run failed, when it did")
    started_at: datetime
    finished_at: datetime | None
    job_id: int | None = Field(description="the planning job")
    created_by_id: int | None

    @classmethod
    def of(cls, run: ContaminationRun, failed: str | None = None) -> Self:
        return cls(
            id=run.id,
            eval_set_ids=list(run.eval_set_ids),
            full=run.full,
            total=run.total,
            done=run.done,
            flags=run.flags,
            failed=run.failed or failed,
            started_at=run.started_at,
            finished_at=run.finished_at,
            job_id=run.job_id,
            created_by_id=run.created_by_id,
        )


class SetOverviewOut(BaseModel):
    eval_set_id: int
    name: str
    version: int
    checked_examples: int = Field(description="examples checked against the set at their content")
    checked_pairs: int
    open_by_method: dict[str, int]
    dismissed: int
    dropped: int


class OverviewOut(BaseModel):
    examples: int
    pairs: int
    sets: list[SetOverviewOut] = Field(description="one per frozen eval set")
    open_flags: int
    changed_since: int = Field(description="items not checked at their current content")
    last_run: RunOut | None = Field(description="the last finished run")
    running: RunOut | None
    runs: list[RunOut] = Field(description="the latest runs, newest first")

    @classmethod
    def of(cls, view: Overview) -> Self:
        running = view.running
        return cls(
            examples=view.examples,
            pairs=view.pairs,
            sets=[
                SetOverviewOut(
                    eval_set_id=s.eval_set.id,
                    name=s.eval_set.name,
                    version=s.eval_set.version,
                    checked_examples=s.checked_examples,
                    checked_pairs=s.checked_pairs,
                    open_by_method=dict(s.open_by_method),
                    dismissed=s.dismissed,
                    dropped=s.dropped,
                )
                for s in view.sets
            ],
            open_flags=view.open_flags,
            changed_since=view.changed_since,
            last_run=RunOut.of(view.last_run) if view.last_run else None,
            running=RunOut.of(running) if running else None,
            runs=[RunOut.of(r) for r in view.runs],
        )


class FlagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: int | None
    method: str = Field(
        description="minhash (near-verbatim), containment (eval text inside a longer one) or "
        "embedding (paraphrase)"
    )
    jaccard: float | None
    containment: float | None
    cosine: float | None
    score: float = Field(description="the strongest of the three")
    status: FlagStatus
    reason: str | None
    resolved_by_id: int | None
    resolved_at: datetime | None
    item_kind: ItemKind
    example_id: int | None
    pair_id: int | None
    item_content_hash: str = Field(description="the training item's content when flagged")
    eval_set_id: int
    eval_item_id: int
    eval_field: str | None = Field(description="the eval field that matched; * for all of them")
    created_at: datetime


class FlagPage(BaseModel):
    items: list[FlagOut]
    total: int
    limit: int
    offset: int


class FlagDetail(FlagOut):
    train_text: str = Field(description="the training item's text as the check reads it, now")
    train_changed: bool = Field(
        description="the item changed since it was flagged: train_spans no longer apply"
    )
    train_spans: list[list[int]] = Field(
        description="[start, end) character offsets into train_text (empty when changed)"
    )
    eval_text: str = Field(description="the whole eval item")
    eval_segment: str = Field(description="the eval text that matched")
    eval_spans: list[list[int]] = Field(description="offsets into eval_segment")
    eval_position: int | None = Field(description="the eval item's position in its set")
    eval_hidden: bool = Field(
        default=False,
        description="eval text withheld (empty): eval items are shown to reviewers and above",
    )


class DismissIn(BaseModel):
    reason: str = Field(max_length=REASON_MAX, description="why this is not contamination")


class DropIn(BaseModel):
    reason: str = Field(default="", max_length=REASON_MAX)
