from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models import ItemStatus, ReviewDecision, Source

COMMENT_MAX = 5_000
BulkAction = Literal["approve", "reject"]
KindName = Literal["example", "pair"]


class QueueFilter(BaseModel):
    """Which submitted items the review queue (and a bulk action) covers."""

    kind: KindName | None = None
    source: Source | None = None
    tag: str | None = Field(default=None, max_length=100)
    min_rating: int | None = Field(default=None, ge=1, le=5)
    annotator: int | None = Field(default=None, description="user id of an annotator")


class QueuePage(QueueFilter):
    after: str | None = Field(default=None, max_length=200, description="cursor from next_cursor")
    limit: int = Field(default=50, ge=1, le=200)


class DecisionIn(BaseModel):
    decision: ReviewDecision
    comment: str = Field(default="", max_length=COMMENT_MAX)
    version: int = Field(description="the version you reviewed; a newer one answers 409")


class ReviewOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    item_kind: str
    item_id: int
    user_id: int | None
    decision: ReviewDecision
    comment: str
    content_hash: str
    item_version: int
    created_at: datetime


class DecisionOut(BaseModel):
    review: ReviewOut
    status: ItemStatus
    version: int
    approvals: int
    approvals_required: int


class QueueItem(BaseModel):
    kind: KindName
    id: int
    status: ItemStatus
    source: Source
    rating: int | None
    tags: list[str]
    preview: str
    labels: int
    version: int
    updated_at: datetime


class QueueOut(BaseModel):
    items: list[QueueItem]
    total: int
    next_cursor: str | None


class BulkIn(BaseModel):
    action: BulkAction
    filter: QueueFilter = Field(default_factory=QueueFilter)
    expected_count: int | None = Field(
        default=None, ge=0, description="the count you confirmed; omit for a dry run"
    )
    comment: str = Field(default="", max_length=COMMENT_MAX)
    dry_run: bool = False


class SkippedItem(BaseModel):
    kind: KindName
    id: int
    reason: str


class BulkOut(BaseModel):
    action: BulkAction
    count: int = Field(description="items matching the filter")
    applied: int = Field(description="items decided (0 on a dry run)")
    dry_run: bool
    job_id: int | None = Field(
        default=None,
        description="over 500 items the decisions run as this job (GET /api/jobs/{id}); "
        "`applied` is then 0 in this answer",
    )
    skipped: list[SkippedItem] = Field(default_factory=list)
