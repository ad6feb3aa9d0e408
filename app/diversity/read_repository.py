"""The read side's SQL for the diversity pages and API: the scored run, the map's points,
clusters and near-duplicate groups, each joined with the few item columns they show.

Built for projects of 50k items: one query per item kind, only the columns shown, and previews
cut in SQL (the first turns' role and the start of their content) instead of loading whole
conversations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from app.items.kinds import model_for
from app.models import (
    DiversityRun,
    DiversityScore,
    Example,
    ItemKind,
    ItemStatus,
    PreferencePair,
    Project,
)

PREVIEW_CHARS = 120
_FETCH_CHARS = 400  # enough to fill a preview after collapsing whitespace
_CHUNK = 1000
SAMPLES_PER_CLUSTER = 3


def scored_run(db: Session, project: Project) -> DiversityRun | None:
    """The latest run that finished with scores: the one whose rows the map shows."""
    return db.scalar(
        select(DiversityRun)
        .where(
            DiversityRun.project_id == project.id,
            DiversityRun.finished_at.is_not(None),
            DiversityRun.failed.is_(None),
            DiversityRun.metrics.is_not(None),
        )
        .order_by(DiversityRun.id.desc())
        .limit(1)
    )


def current_run(db: Session, project: Project) -> DiversityRun | None:
    """The newest run when it has not finished (the one to show progress for)."""
    run = db.scalar(
        select(DiversityRun)
        .where(DiversityRun.project_id == project.id)
        .order_by(DiversityRun.id.desc())
        .limit(1)
    )
    return run if run is not None and run.finished_at is None else None


def item_path(slug: str, kind: ItemKind, item_id: int) -> str:
    folder = "examples" if kind is ItemKind.example else "pairs"
    return f"/projects/{slug}/{folder}/{item_id}"


# -- previews ----------------------------------------------------------------------------------


def _turns(kind: ItemKind) -> list[ColumnElement[Any]]:
    """Role and content start of the first two turns (the conversation, or a pair's prompt)."""
    column = Example.messages if kind is ItemKind.example else PreferencePair.prompt
    out: list[ColumnElement[Any]] = []
    for i in (0, 1):
        out.append(column[(i, "role")].as_string())
        out.append(func.substr(column[(i, "content")].as_string(), 1, _FETCH_CHARS))
    return out


def _preview(role0: Any, text0: Any, role1: Any, text1: Any) -> str:
    """The first user turn (else the first turn) on one line, at most PREVIEW_CHARS long."""
    chosen = text1 if role0 != "user" and role1 == "user" else text0
    text = " ".join(str(chosen or "").split())
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class ItemBrief:
    kind: ItemKind
    id: int
    status: ItemStatus
    source: str
    rating: int | None
    preview: str


def briefs(db: Session, kind: ItemKind, ids: Iterable[int]) -> dict[int, ItemBrief]:
    model = model_for(kind)
    wanted = sorted(set(ids))
    out: dict[int, ItemBrief] = {}
    for start in range(0, len(wanted), _CHUNK):
        rows = db.execute(
            select(model.id, model.status, model.source, model.rating, *_turns(kind)).where(
                model.id.in_(wanted[start : start + _CHUNK])
            )
        )
        for item_id, status, source, rating, r0, t0, r1, t1 in rows:
            out[item_id] = ItemBrief(
                kind, item_id, status, source.value, rating, _preview(r0, t0, r1, t1)
            )
    return out


def _briefs_of(
    db: Session, refs: Iterable[tuple[ItemKind, int | None, int | None]]
) -> dict[ItemKind, dict[int, ItemBrief]]:
    """Briefs by kind and id for (kind, example_id, pair_id) score references."""
    wanted: dict[ItemKind, list[int]] = {ItemKind.example: [], ItemKind.pair: []}
    for kind, example_id, pair_id in refs:
        item_id = example_id if kind is ItemKind.example else pair_id
        if item_id is not None:
            wanted[kind].append(item_id)
    return {kind: briefs(db, kind, ids) for kind, ids in wanted.items()}


def _item_id(kind: ItemKind) -> Any:
    return DiversityScore.example_id if kind is ItemKind.example else DiversityScore.pair_id


# -- the map -----------------------------------------------------------------------------------


def points(db: Session, run: DiversityRun) -> list[dict[str, Any]]:
    """One dict per scored item, in the run's order (its position)."""
    S = DiversityScore  # noqa: N806 - a table alias
    found: list[tuple[int, dict[str, Any]]] = []
    for kind in (ItemKind.example, ItemKind.pair):
        model, item_id = model_for(kind), _item_id(kind)
        rows = db.execute(
            select(S.position, item_id, S.x, S.y, S.cluster, S.dup_group, S.nn_sim, S.novelty,
                   model.status, model.source, *_turns(kind))
            .join(model, model.id == item_id)
            .where(S.run_id == run.id)
        )  # fmt: skip
        for position, id_, x, y, cluster, group, nn_sim, novelty, status, source, *turns in rows:
            found.append((position, {
                "kind": kind, "id": id_, "x": x, "y": y, "cluster": cluster,
                "status": status, "source": source.value, "dup_group": group,
                "nn_sim": nn_sim, "novelty": novelty, "preview": _preview(*turns),
            }))  # fmt: skip
    found.sort(key=lambda pair: pair[0])
    return [point for _, point in found]


# -- clusters ----------------------------------------------------------------------------------


@dataclass
class ClusterView:
    id: int
    size: int = 0
    approved: int = 0
    samples: list[ItemBrief] = field(default_factory=list)

    @property
    def share_approved(self) -> float:
        return round(self.approved / self.size, 4) if self.size else 0.0


def clusters(db: Session, run: DiversityRun) -> list[ClusterView]:
    """Every cluster with its size, how many of its items are approved and its most typical
    items (lowest novelty: the ones with the closest neighbours) as samples; largest first."""
    S = DiversityScore  # noqa: N806
    views: dict[int, ClusterView] = {}
    for kind in (ItemKind.example, ItemKind.pair):
        model, item_id = model_for(kind), _item_id(kind)
        approved = func.sum(case((model.status == ItemStatus.approved, 1), else_=0))
        rows = db.execute(
            select(S.cluster, func.count(), approved)
            .join(model, model.id == item_id)
            .where(S.run_id == run.id, S.cluster.is_not(None))
            .group_by(S.cluster)
        )
        for cluster, size, n_approved in rows:
            view = views.setdefault(int(cluster), ClusterView(int(cluster)))
            view.size += int(size)
            view.approved += int(n_approved or 0)
    rank = (
        func.row_number()
        .over(partition_by=S.cluster, order_by=(S.novelty.asc(), S.position.asc()))
        .label("rank")
    )
    ranked = (
        select(S.cluster, S.position, S.item_kind, S.example_id, S.pair_id, rank)
        .where(S.run_id == run.id, S.cluster.is_not(None))
        .subquery()
    )
    samples = db.execute(
        select(ranked.c.cluster, ranked.c.item_kind, ranked.c.example_id, ranked.c.pair_id)
        .where(ranked.c.rank <= SAMPLES_PER_CLUSTER)
        .order_by(ranked.c.cluster, ranked.c.rank)
    ).all()
    loaded = _briefs_of(db, [(k, e, p) for _, k, e, p in samples])
    for cluster, kind, example_id, pair_id in samples:
        brief = loaded[kind].get(int(example_id if kind is ItemKind.example else pair_id))
        if brief is not None and int(cluster) in views:
            views[int(cluster)].samples.append(brief)
    return sorted(views.values(), key=lambda v: (-v.size, v.id))


# -- near-duplicate groups ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberView:
    item: ItemBrief
    position: int
    nn_sim: float | None
    keep: bool
    """The member `discard_duplicates` keeps: the highest rated, then the first."""


@dataclass(frozen=True, slots=True)
class GroupView:
    id: int
    members: list[MemberView]

    @property
    def to_discard(self) -> int:
        """Members a discard would reject (those not kept and not rejected already)."""
        return sum(
            1 for m in self.members if not m.keep and m.item.status is not ItemStatus.rejected
        )


def duplicate_groups(
    db: Session, run: DiversityRun, *, limit: int | None = None, offset: int = 0
) -> tuple[list[GroupView], int]:
    """A page of near-duplicate groups (by group id) with their members, and the total."""
    S = DiversityScore  # noqa: N806
    rows = db.execute(
        select(S.dup_group, S.position, S.item_kind, S.example_id, S.pair_id, S.nn_sim)
        .where(S.run_id == run.id, S.dup_group.is_not(None))
        .order_by(S.dup_group, S.position)
    ).all()
    by_group: dict[int, list[Any]] = {}
    for row in rows:
        by_group.setdefault(int(row[0] or 0), []).append(row)
    ids = sorted(by_group)
    page = ids[offset : None if limit is None else offset + limit]
    members = [row for g in page for row in by_group[g]]
    loaded = _briefs_of(db, [(r[2], r[3], r[4]) for r in members])
    groups = []
    for group in page:
        found = []
        for _, position, kind, example_id, pair_id, nn_sim in by_group[group]:
            brief = loaded[kind].get(int(example_id if kind is ItemKind.example else pair_id))
            if brief is not None:
                found.append((brief, int(position), nn_sim))
        # the same order as service.discard_duplicates: highest rating, then the first
        keeper = min(found, key=lambda m: (-(m[0].rating or 0), m[1]), default=None)
        groups.append(
            GroupView(group, [MemberView(b, p, s, keep=(b, p, s) == keeper) for b, p, s in found])
        )
    return groups, len(ids)
