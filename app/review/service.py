"""The review workflow: approve, reject or send back an example or pair, the review queue of
submitted items, and bulk decisions over a filter.

Rules: an item is approved once `project.approvals_required` distinct reviewers approved it at
its current content hash (a reject or send-back since then starts the count again); a reviewer
may not approve an item they edited or labeled; sending back needs a comment and hands the
item back to its annotators (their labels become `returned`) or, when nobody labeled it, back
to the general labeling queue (its slots are freed).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Forbidden, Invalid, NotFound
from app.examples import service as examples
from app.items import changes
from app.items import repository as items
from app.items.kinds import Item, parse_kind, snapshot
from app.models import (
    Example,
    ItemKind,
    ItemStatus,
    Label,
    Project,
    Review,
    ReviewDecision,
    Source,
    User,
)
from app.pairs import service as pairs
from app.review import repository
from app.review.schemas import QueueFilter, QueuePage

# Statuses a reviewer can decide on: submitted items, and earlier decisions to overturn. Pending
# items are still being labeled; items sent back are with their annotators.
DECIDABLE = (ItemStatus.submitted, ItemStatus.approved, ItemStatus.rejected)


# --- who may approve -------------------------------------------------------------------------


def approval_blocker(db: Session, kind: ItemKind, item: Item, user: User) -> str | None:
    """Why `user` may not approve the item (None when they may)."""
    if repository.edited_by(db, kind, [item.id], user.id):
        return (
            f"you edited {kind.value} {item.id}, so another reviewer has to approve it "
            "(you can still reject it or send it back)"
        )
    if repository.labeled_by(db, kind, [item.id], user.id):
        return (
            f"you labeled {kind.value} {item.id}, so another reviewer has to approve it "
            "(you can still reject it or send it back)"
        )
    if item.source is Source.synthetic:
        return synthetic_blocker(db, kind, item)
    return None


def synthetic_blocker(db: Session, kind: ItemKind, item: Item) -> str | None:
    """Generated items enter the pool only once the contamination check has seen their current
    content against every frozen eval set, with no open flag (docs/synthetic.md)."""
    sets, checked, flags = repository.contamination_state(
        db, item.project_id, kind, item.id, item.content_hash
    )
    if checked < sets:
        return (
            f"{kind.value} {item.id} is synthetic and the contamination check has not seen its "
            f"current content ({checked} of {sets} frozen eval sets); wait for the check"
        )
    if flags:
        return (
            f"{kind.value} {item.id} is synthetic and has {flags} open contamination flag(s): "
            "dismiss or drop them first"
        )
    return None


def approvals(db: Session, kind: ItemKind, item: Item) -> int:
    return len(repository.approvers(db, kind, item.id, item.content_hash))


# --- decisions -------------------------------------------------------------------------------


@dataclass(slots=True)
class Decision:
    review: Review
    item: Item
    approvals: int


def decide(
    db: Session,
    project: Project,
    reviewer: User,
    kind: ItemKind,
    item_id: int,
    decision: ReviewDecision,
    comment: str,
    version: int,
) -> Decision:
    """Record one reviewer's decision on the version of the item they looked at."""
    item = items.get(db, project, kind, item_id)
    changes.check_version(kind, item, version, snapshot(item))
    return apply_decision(db, project, reviewer, kind, item, decision, comment)


def apply_decision(
    db: Session,
    project: Project,
    reviewer: User,
    kind: ItemKind,
    item: Item,
    decision: ReviewDecision,
    comment: str,
) -> Decision:
    if item.status not in DECIDABLE:
        where = "with its annotators" if item.status is ItemStatus.needs_revision else "pending"
        raise Invalid(
            f"{kind.value} {item.id} is {where} ({item.status.value}); "
            "it can be reviewed once it is submitted"
        )
    comment = comment.strip()
    if decision is ReviewDecision.needs_revision and not comment:
        raise Invalid("say what needs to change: sending an item back needs a comment")
    if decision is ReviewDecision.approve:
        if isinstance(item, Example):
            examples.require_response(item, "approve")
        blocker = approval_blocker(db, kind, item, reviewer)
        if blocker is not None:
            raise Forbidden(blocker)
    review = Review(
        project_id=project.id,
        item_kind=kind.value,
        item_id=item.id,
        user_id=reviewer.id,
        decision=decision,
        comment=comment,
        content_hash=item.content_hash,
        item_version=item.version,
    )
    db.add(review)
    db.flush()
    count = approvals(db, kind, item)
    if decision is ReviewDecision.approve:
        # Never demotes an approved item (say the rule was raised since): it only promotes.
        enough = count >= project.approvals_required or item.status is ItemStatus.approved
        status = ItemStatus.approved if enough else ItemStatus.submitted
    elif decision is ReviewDecision.reject:
        status = ItemStatus.rejected
    else:
        status = ItemStatus.needs_revision
        if repository.return_labels(db, kind, item.id) == 0:
            items.reopen_slots(db, project.id, kind, item.id, project.min_submissions)
    if status is not item.status:
        before = {"status": item.status.value}
        item.status = status
        after: dict[str, Any] = {"status": status.value}
        if comment:
            after["comment"] = comment
        changes.record(db, project, reviewer, kind, item, decision.value, before, after)
    return Decision(review, item, count)


# --- the queue -------------------------------------------------------------------------------


@dataclass(slots=True)
class QueueEntry:
    kind: ItemKind
    item: Item
    labels: int


@dataclass(slots=True)
class QueueResult:
    entries: list[QueueEntry]
    total: int
    next_cursor: str | None
    skipped: list[tuple[ItemKind, int, str]] = field(default_factory=list)


def kinds_in(f: QueueFilter) -> list[ItemKind]:
    return [parse_kind(f.kind)] if f.kind else [ItemKind.example, ItemKind.pair]


def queue_conditions(
    db: Session, project: Project, kind: ItemKind, f: QueueFilter, not_reviewed_by: int | None
) -> list[Any]:
    return repository.queue_conditions(
        db,
        kind,
        project.id,
        source=f.source,
        tag=f.tag,
        min_rating=f.min_rating,
        annotator_id=f.annotator,
        not_reviewed_by=not_reviewed_by,
    )


def _encode(at: datetime, kind: ItemKind, item_id: int) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{kind.value}|{item_id}".encode()).decode()


def _decode(cursor: str) -> tuple[datetime, str, int]:
    try:
        stamp, kind, ident = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(stamp), parse_kind(kind).value, int(ident)
    except (ValueError, NotFound) as exc:
        raise Invalid("malformed cursor") from exc


def _sort_key(entry: tuple[ItemKind, Item]) -> tuple[datetime, str, int]:
    kind, item = entry
    return (item.updated_at, kind.value, item.id)


def _cursor_of(entry: tuple[ItemKind, Item]) -> str:
    kind, item = entry
    return _encode(item.updated_at, kind, item.id)


def queue(
    db: Session, project: Project, f: QueuePage, *, not_reviewed_by: int | None = None
) -> QueueResult:
    """Submitted examples and pairs, oldest update first, keyset-paginated across both kinds."""
    after = _decode(f.after) if f.after else None
    found: list[tuple[ItemKind, Item]] = []
    total = 0
    for kind in kinds_in(f):
        conds = queue_conditions(db, project, kind, f, not_reviewed_by)
        found.extend(
            (kind, item) for item in repository.queue_page(db, kind, conds, after, f.limit + 1)
        )
        total += repository.queue_count(db, kind, conds)
    found.sort(key=_sort_key)
    page = found[: f.limit]
    next_cursor = _cursor_of(page[-1]) if len(found) > f.limit else None
    counts = {
        kind: repository.label_counts(db, kind, [i.id for k, i in page if k is kind])
        for kind in kinds_in(f)
    }
    entries = [QueueEntry(kind, item, counts[kind].get(item.id, 0)) for kind, item in page]
    return QueueResult(entries, total, next_cursor)


def next_item(
    db: Session,
    project: Project,
    reviewer: User,
    f: QueueFilter,
    current: tuple[ItemKind, int] | None = None,
) -> tuple[ItemKind, int] | None:
    """The next item this reviewer can act on: after `current` in queue order (wrapping round to
    the start), not yet reviewed by them at its content, and not one they may not approve."""
    start = None
    if current is not None:
        kind, item_id = current
        item = items.find(db, kind, item_id)
        if item is not None and item.project_id == project.id:
            start = _encode(item.updated_at, kind, item.id)
    filters = f.model_dump(include=set(QueueFilter.model_fields))
    for first in [start, None] if start else [None]:
        after = first
        while True:
            page = QueuePage(**filters, after=after, limit=50)
            result = queue(db, project, page, not_reviewed_by=reviewer.id)
            found = _first_allowed(db, result, reviewer, current)
            if found is not None:
                return found
            if result.next_cursor is None:
                break
            after = result.next_cursor
    return None


def _first_allowed(
    db: Session, result: QueueResult, reviewer: User, current: tuple[ItemKind, int] | None
) -> tuple[ItemKind, int] | None:
    blocked: set[tuple[ItemKind, int]] = set()
    for kind in (ItemKind.example, ItemKind.pair):
        ids = [e.item.id for e in result.entries if e.kind is kind]
        if ids:
            blocked |= {(kind, i) for i in repository.edited_by(db, kind, ids, reviewer.id)}
            blocked |= {(kind, i) for i in repository.labeled_by(db, kind, ids, reviewer.id)}
    for entry in result.entries:
        key = (entry.kind, entry.item.id)
        if key not in blocked and key != current:
            return key
    return None


# --- reverts and what the review pages show ---------------------------------------------------


def revert(
    db: Session,
    project: Project,
    user: User,
    kind: ItemKind,
    item_id: int,
    revision_id: int,
    version: int,
    *,
    before: bool = False,
) -> Item:
    if kind is ItemKind.example:
        return examples.revert(db, project, user, item_id, revision_id, version, before=before)
    return pairs.revert(db, project, user, item_id, revision_id, version, before=before)


def labels(db: Session, kind: ItemKind, item_id: int) -> list[Label]:
    return repository.labels_of(db, kind, item_id)


def reviews(db: Session, kind: ItemKind, item_id: int) -> list[Review]:
    return repository.reviews_of(db, kind, item_id)
