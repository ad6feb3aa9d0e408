"""Read models of a project's contamination: the overview per eval set, the flag list, and what
exports need to know. Never commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.contamination import repository
from app.contamination.flags import run_failure
from app.contamination.names import METHODS
from app.errors import Invalid
from app.models import (
    ContaminationFlag,
    ContaminationRun,
    EvalSet,
    FlagStatus,
    ItemKind,
    Project,
)

# -- overview ----------------------------------------------------------------------------------


@dataclass
class SetOverview:
    eval_set: EvalSet
    checked_examples: int
    checked_pairs: int
    open_by_method: dict[str, int]
    dismissed: int
    dropped: int


@dataclass
class Overview:
    examples: int
    pairs: int
    sets: list[SetOverview]
    last_run: ContaminationRun | None
    runs: list[ContaminationRun]
    changed_since: int
    """Items not checked against every frozen set at their current content."""
    open_flags: int
    failures: dict[int, str]
    """Unfinished runs that never will: run id -> why."""

    @property
    def running(self) -> ContaminationRun | None:
        return next(
            (r for r in self.runs if r.finished_at is None and r.id not in self.failures), None
        )


def overview(db: Session, project: Project) -> Overview:
    sets = repository.frozen_sets(db, project.id)
    counts = repository.flag_counts(db, project.id)
    per_set: list[SetOverview] = []
    pending: set[tuple[ItemKind, int]] = set()
    for eval_set in sets:
        by_method = dict.fromkeys(METHODS, 0)
        dismissed = dropped = 0
        for set_id, method, status, n in counts:
            if set_id != eval_set.id:
                continue
            if status is FlagStatus.open:
                by_method[method] = by_method.get(method, 0) + n
            elif status is FlagStatus.dismissed:
                dismissed += n
            else:
                dropped += n
        per_set.append(
            SetOverview(
                eval_set,
                repository.checked_count(db, eval_set.id, ItemKind.example),
                repository.checked_count(db, eval_set.id, ItemKind.pair),
                by_method,
                dismissed,
                dropped,
            )
        )
        for kind in (ItemKind.example, ItemKind.pair):
            pending |= {
                (kind, i)
                for i in repository.pending_ids(db, project.id, kind, eval_set.id, full=False)
            }
    runs = repository.latest_runs(db, project.id)
    failures = {r.id: why for r in runs if (why := run_failure(db, r)) is not None}
    return Overview(
        failures=failures,
        examples=repository.item_count(db, project.id, ItemKind.example),
        pairs=repository.item_count(db, project.id, ItemKind.pair),
        sets=per_set,
        last_run=repository.last_finished_run(db, project.id),
        runs=runs,
        changed_since=len(pending),
        open_flags=sum(n for _, _, status, n in counts if status is FlagStatus.open),
    )


def list_flags(
    db: Session,
    project: Project,
    *,
    status: FlagStatus | None = FlagStatus.open,
    method: str | None = None,
    eval_set_id: int | None = None,
    sort: str = "score",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ContaminationFlag], int]:
    if method is not None and method not in METHODS:
        raise Invalid(f"field method: expected one of {', '.join(METHODS)}")
    if sort not in ("score", "jaccard", "containment", "cosine", "method", "newest"):
        raise Invalid("field sort: expected score, jaccard, containment, cosine, method or newest")
    return repository.list_flags(
        db, project.id, status=status, method=method, eval_set_id=eval_set_id, sort=sort,
        limit=limit, offset=offset,
    )  # fmt: skip


def open_flag_item_ids(db: Session, project_id: int, kind: ItemKind) -> set[int]:
    return repository.open_flag_item_ids(db, project_id, kind)


# -- exports -----------------------------------------------------------------------------------


@dataclass
class ExportView:
    """What an export needs to know: items with open flags, items not checked at their current
    content, and whether there is anything to check against at all."""

    has_sets: bool
    flagged: dict[ItemKind, set[int]]
    unchecked: dict[ItemKind, set[int]]


def export_view(db: Session, project_id: int) -> ExportView:
    sets = repository.frozen_sets(db, project_id)
    flagged = {k: repository.open_flag_item_ids(db, project_id, k) for k in ItemKind}
    unchecked: dict[ItemKind, set[int]] = {k: set() for k in ItemKind}
    for eval_set in sets:
        for kind in ItemKind:
            unchecked[kind] |= repository.pending_ids(db, project_id, kind, eval_set.id, full=False)
    return ExportView(bool(sets), flagged, unchecked)
