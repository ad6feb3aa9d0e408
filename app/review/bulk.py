"""Bulk review decisions over a filter. Up to `INLINE_MAX` items are decided in the request;
more run as a job that decides them in batches, each its own short transaction, so the request
answers at once and the database is never held for minutes (on SQLite a single 5,000-item
transaction blocked every other writer for over a minute)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.db import transaction
from app.errors import Conflict, Invalid, NotFound
from app.examples.service import response_missing
from app.items.kinds import Item, model_for
from app.jobs import service as jobs
from app.models import Example, ItemKind, Project, ReviewDecision, Source, User
from app.review import repository
from app.review.schemas import BulkAction, QueueFilter
from app.review.service import apply_decision, kinds_in, queue_conditions, synthetic_blocker

BULK_JOB = "review_bulk"
INLINE_MAX = 500
"""Decided within the request up to this many items; above it, a job."""
BULK_MAX = 100_000
"""A bulk action decides at most this many items; narrow the filter for more."""
BATCH = 200
"""Items decided per transaction in a bulk job."""
SKIPPED_KEPT = 1_000


@dataclass(slots=True)
class BulkResult:
    action: BulkAction
    count: int
    applied: int
    dry_run: bool
    skipped: list[tuple[ItemKind, int, str]] = field(default_factory=list)
    skipped_total: int = 0
    job_id: int | None = None


def bulk_count(db: Session, project: Project, f: QueueFilter) -> int:
    return sum(
        repository.queue_count(db, kind, queue_conditions(db, project, kind, f, None))
        for kind in kinds_in(f)
    )


def bulk(
    db: Session,
    project: Project,
    reviewer: User,
    action: BulkAction,
    f: QueueFilter,
    expected_count: int | None,
    *,
    comment: str = "",
    dry_run: bool = False,
) -> BulkResult:
    """Approve or reject every submitted item the filter matches. Without `expected_count` (or
    with `dry_run`) only counts them: the caller shows the count and asks for confirmation, and
    a count that changed in between is refused (409) instead of deciding items nobody saw.
    Above `INLINE_MAX` items the result names the job that decides them."""
    count = bulk_count(db, project, f)
    if dry_run or expected_count is None:
        return BulkResult(action, count, 0, True)
    if count != expected_count:
        raise Conflict(
            f"{count:,} items match this filter now, not the {expected_count:,} you confirmed; "
            "check the new count and confirm again",
            details={"count": count},
        )
    if count > BULK_MAX:
        raise Invalid(f"{count:,} items match; a bulk action takes at most {BULK_MAX:,}")
    result = BulkResult(action, count, 0, False)
    if count > INLINE_MAX:
        params = {"action": action, "filter": f.model_dump(mode="json"), "comment": comment,
                  "reviewer_id": reviewer.id, "count": count}  # fmt: skip
        job = jobs.create(
            db, kind=BULK_JOB, params=params, project_id=project.id, user_id=reviewer.id
        )
        result.job_id = job.id
        return result
    for kind in kinds_in(f):
        items = repository.queue_all(db, kind, queue_conditions(db, project, kind, f, None))
        decide_batch(db, project, reviewer, kind, items, action, comment, result)
    return result


def decide_batch(
    db: Session,
    project: Project,
    reviewer: User,
    kind: ItemKind,
    items: list[Item],
    action: BulkAction,
    comment: str,
    result: BulkResult,
) -> None:
    """Decide `items`, skipping those this reviewer may not approve (the own-work rule)."""
    decision = ReviewDecision.approve if action == "approve" else ReviewDecision.reject
    ids = [item.id for item in items]
    blocked: dict[int, str] = {}
    if decision is ReviewDecision.approve:
        for item_id in repository.labeled_by(db, kind, ids, reviewer.id):
            blocked[item_id] = "you labeled it"
        for item_id in repository.edited_by(db, kind, ids, reviewer.id):
            blocked[item_id] = "you edited it"
        hashes = [(item.id, item.content_hash) for item in items]
        for item_id in repository.approved_by(db, kind, hashes, reviewer.id):
            blocked.setdefault(item_id, "you already approved it")
        for item in items:  # generated items wait for their contamination check
            if item.source is Source.synthetic and item.id not in blocked:
                reason = synthetic_blocker(db, kind, item)
                if reason is not None:
                    blocked[item.id] = reason
        for item in items:
            if isinstance(item, Example) and response_missing(item.messages):
                blocked[item.id] = "it needs a response (no final assistant turn)"
    for item in items:
        if item.id in blocked:
            result.skipped_total += 1
            if len(result.skipped) < SKIPPED_KEPT:
                result.skipped.append((kind, item.id, blocked[item.id]))
            continue
        apply_decision(db, project, reviewer, kind, item, decision, comment)
        result.applied += 1


def run_job(
    factory: sessionmaker[Session],
    project_id: int,
    params: dict[str, Any],
    progress: Callable[[float, str], None],
) -> dict[str, Any]:
    """The bulk job: list the matching ids once, then decide them `BATCH` at a time, each batch
    in its own transaction (an item that left the queue meanwhile is passed over)."""
    f = QueueFilter.model_validate(params["filter"])
    action: BulkAction = params["action"]

    def matching(db: Session) -> list[tuple[ItemKind, list[int]]]:
        project = _project(db, project_id)
        return [
            (kind, [i.id for i in repository.queue_all(
                db, kind, queue_conditions(db, project, kind, f, None))])
            for kind in kinds_in(f)
        ]  # fmt: skip

    if params.get("ids") is not None:
        # rows picked in a list: exactly these (each batch still checks the queue's rules)
        todo = [(kind, [int(i) for i in params["ids"]]) for kind in kinds_in(f)]
    else:
        todo = transaction(matching, factory, write=False)
    total = sum(len(ids) for _, ids in todo) or 1
    result = BulkResult(action, total, 0, False)
    done = 0
    for kind, ids in todo:
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]

            def decide(db: Session, kind: ItemKind = kind, batch: list[int] = batch) -> BulkResult:
                # A fresh tally per attempt: a transaction retried after SQLITE_BUSY runs again.
                tally = BulkResult(action, len(batch), 0, False)
                project = _project(db, project_id)
                reviewer = db.get(User, int(params["reviewer_id"]))
                if reviewer is None:
                    raise NotFound("the reviewer of this bulk action is gone")
                conds = [*queue_conditions(db, project, kind, f, None),
                         model_for(kind).id.in_(batch)]  # fmt: skip
                items = repository.queue_all(db, kind, conds)
                decide_batch(db, project, reviewer, kind, items, action, params["comment"], tally)
                return tally

            tally = transaction(decide, factory)
            result.applied += tally.applied
            result.skipped_total += tally.skipped_total
            result.skipped.extend(tally.skipped[: SKIPPED_KEPT - len(result.skipped)])
            done += len(batch)
            progress(done / total, f"{action}d {result.applied:,} of {total:,}")
    return {
        "action": action,
        "count": total,
        "applied": result.applied,
        "skipped": result.skipped_total,
        "skipped_items": [{"kind": k.value, "id": i, "reason": r} for k, i, r in result.skipped],
    }


def _project(db: Session, project_id: int) -> Project:
    project = db.get(Project, project_id)
    if project is None:
        raise NotFound(f"project {project_id} is gone")
    return project
