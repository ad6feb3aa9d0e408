"""Review REST API: the queue, decisions (one item or a filter's worth) and reverts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.policy import ProjectReview
from app.items.kinds import parse_kind
from app.models import Example
from app.review import bulk, service
from app.review.schemas import (
    BulkIn,
    BulkOut,
    DecisionIn,
    DecisionOut,
    KindName,
    QueueItem,
    QueueOut,
    QueuePage,
    ReviewOut,
    SkippedItem,
)
from app.review.service import QueueEntry
from app.web.deps import SessionDep
from app.web.pages import preview

router = APIRouter(prefix="/api/projects/{slug}", tags=["review"])


def _kind_name(entry: QueueEntry) -> KindName:
    return "example" if entry.kind.value == "example" else "pair"


def queue_item(entry: QueueEntry) -> QueueItem:
    item = entry.item
    text = item.messages if isinstance(item, Example) else item.prompt
    return QueueItem(
        kind=_kind_name(entry),
        id=item.id,
        status=item.status,
        source=item.source,
        rating=item.rating,
        tags=item.tags,
        preview=preview(text),
        labels=entry.labels,
        version=item.version,
        updated_at=item.updated_at,
    )


@router.get("/review/queue")
def review_queue(
    slug: str, db: SessionDep, access: ProjectReview, f: Annotated[QueuePage, Query()]
) -> QueueOut:
    """Submitted examples and pairs waiting for review, oldest update first."""
    result = service.queue(db, access.required_project, f)
    return QueueOut(
        items=[queue_item(e) for e in result.entries],
        total=result.total,
        next_cursor=result.next_cursor,
    )


@router.post("/review/bulk")
def review_bulk(slug: str, data: BulkIn, db: SessionDep, access: ProjectReview) -> BulkOut:
    """Approve or reject everything the filter matches. Send it first without
    `expected_count` (a dry run) to learn the count, then again with that count to apply."""
    result = bulk.bulk(
        db,
        access.required_project,
        access.required_user,
        data.action,
        data.filter,
        data.expected_count,
        comment=data.comment,
        dry_run=data.dry_run,
    )
    return BulkOut(
        action=result.action,
        count=result.count,
        applied=result.applied,
        dry_run=result.dry_run,
        job_id=result.job_id,
        skipped=[
            SkippedItem(kind="example" if k.value == "example" else "pair", id=i, reason=r)
            for k, i, r in result.skipped
        ],
    )


@router.post("/review/{kind}/{item_id}")
def review_item(
    slug: str, kind: str, item_id: int, data: DecisionIn, db: SessionDep, access: ProjectReview
) -> DecisionOut:
    """Approve, reject or send back (`needs_revision`, comment required) one item."""
    project = access.required_project
    decision = service.decide(
        db,
        project,
        access.required_user,
        parse_kind(kind),
        item_id,
        data.decision,
        data.comment,
        data.version,
    )
    return DecisionOut(
        review=ReviewOut.model_validate(decision.review),
        status=decision.item.status,
        version=decision.item.version,
        approvals=decision.approvals,
        approvals_required=project.approvals_required,
    )
