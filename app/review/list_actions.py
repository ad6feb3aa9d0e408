"""Actions on rows picked in the Examples and Pairs lists (or on all N rows a list filter
matches): tag, approve, reject, save as a selection, discard. The caller shows the count first
and passes it back; a count that changed in between is refused.

Approve and reject go through the review rules (`apply_decision`: submitted items only, the
own-work rule, the answer an SFT example needs); above `INLINE_MAX` items they run as the
existing bulk-review job, given the ids. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid
from app.examples import service as examples
from app.examples.schemas import ExampleUpdate
from app.items import changes
from app.items.kinds import Item, model_for, snapshot
from app.items.listing import matching_ids
from app.items.schemas import ListFilter
from app.jobs import service as jobs
from app.models import Example, ItemKind, ItemStatus, Project, User
from app.pairs import service as pairs
from app.pairs.schemas import PairUpdate
from app.review import bulk as review_bulk
from app.review.schemas import QueueFilter
from app.selections import service as selections

ListAction = Literal["tag", "approve", "reject", "selection", "discard"]
ACTIONS: dict[str, str] = {
    "tag": "add a tag to",
    "approve": "approve",
    "reject": "reject",
    "selection": "save as a new selection",
    "discard": "discard (reject as unusable)",
}
MAX_ITEMS = review_bulk.BULK_MAX
EDIT_MAX = 5_000
"""Tag and discard edit each item with a revision in the request: at most this many."""


@dataclass(slots=True)
class ListActionResult:
    action: str
    count: int
    applied: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    job_id: int | None = None
    selection_id: int | None = None


def target_ids(
    db: Session,
    project: Project,
    kind: ItemKind,
    ids: Sequence[int],
    list_filter: ListFilter | None,
) -> list[int]:
    """The rows the action covers: the picked ids that are this project's items, or every row
    the filter matches ("all N matching")."""
    model = model_for(kind)
    if list_filter is not None:
        found = matching_ids(db, model, project.id, list_filter, MAX_ITEMS + 1)
    else:
        wanted = sorted(set(ids))[: MAX_ITEMS + 1]
        found = []
        for start in range(0, len(wanted), 1000):
            part = wanted[start : start + 1000]
            found += db.scalars(
                select(model.id).where(model.project_id == project.id, model.id.in_(part))
            )
    if len(found) > MAX_ITEMS:
        raise Invalid(f"more than {MAX_ITEMS:,} rows: narrow the filter")
    return sorted(found)


def apply(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    action: ListAction,
    ids: list[int],
    expected_count: int,
    *,
    tag: str = "",
    name: str = "",
) -> ListActionResult:
    if action not in ACTIONS:
        raise Invalid(f"action: one of {', '.join(ACTIONS)}")
    if len(ids) != expected_count:
        raise Conflict(
            f"{len(ids):,} rows match now, not the {expected_count:,} you confirmed; "
            "check the new count and confirm again",
            details={"count": len(ids)},
        )
    if not ids:
        raise Invalid("no rows picked: tick some rows, or pick all matching rows")
    result = ListActionResult(action, len(ids))
    if action == "selection":
        examples_ids, pair_ids = (ids, []) if kind is ItemKind.example else ([], ids)
        made = selections.create(
            db, project, user, name=name, origin="list", examples=examples_ids, pairs=pair_ids
        )
        result.selection_id, result.applied = made.id, len(ids)
    elif action in ("approve", "reject"):
        _decide(db, project, user, kind, action, ids, result)
    else:
        if len(ids) > EDIT_MAX:
            raise Invalid(f"{action} takes at most {EDIT_MAX:,} rows at once: narrow the filter")
        tag = tag.strip()
        if action == "tag" and not tag:
            raise Invalid("field tag: say which tag to add")
        for item in _load(db, kind, ids):
            reason = (
                _tag(db, project, user, kind, item, tag)
                if action == "tag"
                else _discard(db, project, user, kind, item)
            )
            if reason:
                result.skipped.append((item.id, reason))
            else:
                result.applied += 1
    return result


def _decide(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    action: Literal["approve", "reject"],
    ids: list[int],
    result: ListActionResult,
) -> None:
    """Through the review rules; above INLINE_MAX items, the bulk-review job does it."""
    if len(ids) > review_bulk.INLINE_MAX:
        params = {"action": action, "filter": QueueFilter(kind=kind.value).model_dump(mode="json"),
                  "comment": "", "reviewer_id": user.id, "count": len(ids), "ids": ids}  # fmt: skip
        job = jobs.create(
            db, kind=review_bulk.BULK_JOB, params=params, project_id=project.id, user_id=user.id
        )
        result.job_id = job.id
        return
    items = _load(db, kind, ids)
    decidable = [item for item in items if item.status is ItemStatus.submitted]
    for item in items:
        if item.status is not ItemStatus.submitted:
            result.skipped.append((item.id, f"it is {item.status.value.replace('_', ' ')}"))
    tally = review_bulk.BulkResult(action, len(decidable), 0, False)
    review_bulk.decide_batch(db, project, user, kind, decidable, action, "", tally)
    result.applied = tally.applied
    result.skipped += [(item_id, reason) for _, item_id, reason in tally.skipped]


def _load(db: Session, kind: ItemKind, ids: list[int]) -> list[Item]:
    model = model_for(kind)
    found: list[Item] = []
    for start in range(0, len(ids), 1000):
        part = ids[start : start + 1000]
        query = select(model).where(model.id.in_(part)).order_by(model.id)
        found += cast("list[Item]", list(db.scalars(query)))
    return found


def _tag(
    db: Session, project: Project, user: User, kind: ItemKind, item: Item, tag: str
) -> str | None:
    if tag in item.tags:
        return "it has the tag already"
    tags = [*item.tags, tag]
    if isinstance(item, Example):
        examples.update(db, project, item.id, user, ExampleUpdate(version=item.version, tags=tags))
    else:
        pairs.update(db, project, item.id, user, PairUpdate(version=item.version, tags=tags))
    return None


def _discard(db: Session, project: Project, user: User, kind: ItemKind, item: Item) -> str | None:
    if item.status is ItemStatus.rejected:
        return "it is rejected already"
    before = snapshot(item)
    changes.set_status(db, project, kind, item, ItemStatus.rejected)
    changes.record(db, project, user, kind, item, "discard", before, snapshot(item))
    return None
