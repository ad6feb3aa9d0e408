"""Acting on a finished diversity run's scores: the run the map uses, saving a diverse subset as
a selection, and discarding near duplicates. Never commits."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from app.diversity import read_repository, repository
from app.diversity.service import QUALITY_SCORES, load_state
from app.diversity.subset import TAU, quality_order
from app.errors import Invalid, NotFound
from app.items import changes
from app.models import (
    DiversityRun,
    DiversityScore,
    ItemKind,
    ItemStatus,
    Project,
    Selection,
    User,
)
from app.selections import service as selections

log = logging.getLogger(__name__)


# -- acting on the scores ----------------------------------------------------------------------


def scores_of(db: Session, run: DiversityRun) -> list[DiversityScore]:
    return repository.scores(db, run.id)


def save_subset(
    db: Session,
    project: Project,
    user: User,
    run: DiversityRun,
    *,
    name: str,
    tau: float = TAU,
    target: int | None = None,
    then_by: str = "novelty",
) -> Selection:
    """DEITA-style subset saved as a selection: items ordered by rating, then ``then_by``
    (novelty, or length in words), kept when no kept item is closer than ``tau``."""
    if then_by not in QUALITY_SCORES:
        raise Invalid(f"field then_by: one of {', '.join(QUALITY_SCORES)}")
    lowest = float(run.params.get("tau", TAU))
    if not lowest <= tau <= 1.0:
        raise Invalid(
            f"field tau: between {lowest} and 1 for this run (it collected the pairs above "
            f"{lowest}; start a run with a lower tau to go lower)"
        )
    if target is not None and target < 1:
        raise Invalid("field target: a positive number of items")
    state = load_state(run)
    rows = repository.scores(db, run.id)
    ratings = _ratings(db, rows)
    secondary = [float(r.novelty or 0) if then_by == "novelty" else float(r.words) for r in rows]
    order = quality_order(len(rows), ratings, secondary)
    kept = state.subset(order, target=target, tau=tau).tolist()
    examples = [rows[p].example_id for p in kept if rows[p].example_id is not None]
    pairs = [rows[p].pair_id for p in kept if rows[p].pair_id is not None]
    return selections.create(
        db, project, user, name=name, examples=[int(i) for i in examples],
        pairs=[int(i) for i in pairs], origin="diverse_subset",
        params={"run_id": run.id, "tau": tau, "target": target, "then_by": then_by,
                "kept": len(kept), "of": len(rows)},
        description=f"diverse subset of run {run.id}: tau {tau}, ordered by rating then {then_by}",
    )  # fmt: skip


def _ratings(db: Session, rows: list[DiversityScore]) -> list[float | None]:
    loaded: dict[tuple[ItemKind, int], float | None] = {}
    for kind in (ItemKind.example, ItemKind.pair):
        ids = [r.example_id if kind is ItemKind.example else r.pair_id for r in rows
               if r.item_kind is kind]  # fmt: skip
        for row in repository.load_items(db, kind, [i for i in ids if i is not None]):
            loaded[(kind, row[0])] = None if row[3] is None else float(row[3])
    return [loaded.get((r.item_kind, int(r.example_id or r.pair_id or 0))) for r in rows]


def discard_duplicates(
    db: Session, project: Project, user: User, run: DiversityRun, group: int | None = None
) -> int:
    """Keep one item of a near-duplicate group (the highest rated, then the first) and reject
    the rest, each with a revision; ``group=None`` does it for every group."""
    rows = repository.scores(db, run.id)
    ratings = _ratings(db, rows)
    groups: dict[int, list[int]] = {}
    for position, row in enumerate(rows):
        if row.dup_group is not None and (group is None or row.dup_group == group):
            groups.setdefault(row.dup_group, []).append(position)
    if group is not None and group not in groups:
        raise NotFound(f"duplicate group {group} not found in run {run.id}")
    rejected = 0
    for members in groups.values():
        members.sort(key=lambda p: (-(ratings[p] or 0.0), p))
        for position in members[1:]:
            row = rows[position]
            item_id = int(row.example_id or row.pair_id or 0)
            changed = repository.set_status(db, row.item_kind, item_id, ItemStatus.rejected,
                                            user.id)  # fmt: skip
            if changed is None:
                continue
            before, version = changed
            keeper = rows[members[0]]
            changes.add_revision(
                db, project_id=project.id, kind=row.item_kind, item_id=item_id,
                version=version, user_id=user.id, action="discard_duplicate",
                before={"status": before.value},
                after={"status": ItemStatus.rejected.value, "kept": {
                    "kind": keeper.item_kind.value,
                    "id": int(keeper.example_id or keeper.pair_id or 0)}},
            )  # fmt: skip
            rejected += 1
    return rejected


def scored_run(db: Session, project: Project) -> DiversityRun:
    """The run the map and the actions use; NotFound before any run has finished."""
    run = read_repository.scored_run(db, project)
    if run is None:
        raise NotFound(f"project '{project.slug}' has no finished diversity run yet; start one")
    return run
