"""SQL for contamination checks: what needs checking, flags, checked marks, caches, runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from app.items.kinds import model_for
from app.models import (
    ContaminationChecked,
    ContaminationFlag,
    ContaminationRun,
    EvalIndexBlob,
    EvalItem,
    EvalSet,
    Example,
    FlagStatus,
    ItemKind,
    PreferencePair,
)
from app.models.base import dialect_insert, utcnow


def _fk(kind: ItemKind) -> Any:
    return (
        ContaminationChecked.example_id
        if kind is ItemKind.example
        else ContaminationChecked.pair_id
    )


def _flag_fk(kind: ItemKind) -> Any:
    return ContaminationFlag.example_id if kind is ItemKind.example else ContaminationFlag.pair_id


# -- eval sets -------------------------------------------------------------------------------


def frozen_sets(db: Session, project_id: int, ids: Sequence[int] | None = None) -> list[EvalSet]:
    query = select(EvalSet).where(EvalSet.project_id == project_id, EvalSet.frozen_at.is_not(None))
    if ids is not None:
        query = query.where(EvalSet.id.in_(ids))
    return list(db.scalars(query.order_by(EvalSet.id)))


def eval_items(db: Session, eval_set_id: int) -> list[EvalItem]:
    return list(
        db.scalars(
            select(EvalItem).where(EvalItem.eval_set_id == eval_set_id).order_by(EvalItem.position)
        )
    )


def eval_item_ids(db: Session, eval_set_id: int) -> list[int]:
    return list(
        db.scalars(
            select(EvalItem.id)
            .where(EvalItem.eval_set_id == eval_set_id)
            .order_by(EvalItem.position)
        )
    )


def index_blob(db: Session, eval_set_id: int) -> EvalIndexBlob | None:
    return db.get(EvalIndexBlob, eval_set_id)


def save_index_blob(
    db: Session, eval_set_id: int, content_hash: str, model_id: str, data: bytes
) -> None:
    blob = db.get(EvalIndexBlob, eval_set_id)
    if blob is None:
        db.add(EvalIndexBlob(eval_set_id=eval_set_id, content_hash=content_hash,
                             model_id=model_id, data=data, built_at=utcnow()))  # fmt: skip
    else:
        blob.content_hash, blob.model_id, blob.data, blob.built_at = (
            content_hash, model_id, data, utcnow())  # fmt: skip
    db.flush()


# -- what needs checking -----------------------------------------------------------------------


def pending_ids(
    db: Session, project_id: int, kind: ItemKind, eval_set_id: int, *, full: bool
) -> set[int]:
    """Items never checked against the set at their current content (all items when full)."""
    model = model_for(kind)
    query = select(model.id).where(model.project_id == project_id)
    if not full:
        fk = _fk(kind)
        query = query.outerjoin(
            ContaminationChecked,
            and_(ContaminationChecked.eval_set_id == eval_set_id, fk == model.id),
        ).where(
            or_(
                ContaminationChecked.id.is_(None),
                ContaminationChecked.content_hash != model.content_hash,
            )
        )
    return set(db.scalars(query))


def load_items(db: Session, kind: ItemKind, ids: Sequence[int]) -> list[Any]:
    model = model_for(kind)
    if kind is ItemKind.example:
        columns: tuple[Any, ...] = (Example.id, Example.content_hash, Example.messages)
    else:
        columns = (PreferencePair.id, PreferencePair.content_hash, PreferencePair.prompt,
                   PreferencePair.chosen, PreferencePair.rejected)  # fmt: skip
    rows: list[Any] = []
    for start in range(0, len(ids), 1000):
        part = list(ids[start : start + 1000])
        rows.extend(db.execute(select(*columns).where(model.id.in_(part)).order_by(model.id)))
    return rows


def mark_checked(
    db: Session, eval_set_id: int, kind: ItemKind, items: Iterable[tuple[int, str]]
) -> None:
    key = "example_id" if kind is ItemKind.example else "pair_id"
    now = utcnow()
    rows = [{"eval_set_id": eval_set_id, key: i, "content_hash": h, "checked_at": now}
            for i, h in items]  # fmt: skip
    if not rows:
        return
    stmt = dialect_insert(db, ContaminationChecked)
    stmt = stmt.on_conflict_do_update(
        index_elements=["eval_set_id", key],
        set_={"content_hash": stmt.excluded.content_hash, "checked_at": stmt.excluded.checked_at},
    )
    for start in range(0, len(rows), 1000):
        db.execute(stmt, rows[start : start + 1000])


# -- flags -------------------------------------------------------------------------------------


def replace_open_flags(
    db: Session,
    eval_set_id: int,
    kind: ItemKind,
    ids: Sequence[int],
    flags: Sequence[dict[str, Any]],
) -> int:
    """Drop the items' open flags for this set and add ``flags``, except those a reviewer has
    already dismissed at the same content (a dismissal sticks until the text changes)."""
    fk = _flag_fk(kind)
    for start in range(0, len(ids), 1000):
        part = list(ids[start : start + 1000])
        db.execute(
            delete(ContaminationFlag).where(
                ContaminationFlag.eval_set_id == eval_set_id,
                fk.in_(part),
                ContaminationFlag.status == FlagStatus.open,
            )
        )
    if not flags:
        return 0
    key = "example_id" if kind is ItemKind.example else "pair_id"
    flagged = sorted({f[key] for f in flags})
    settled: set[tuple[int, int, str]] = set()
    for start in range(0, len(flagged), 1000):
        part = flagged[start : start + 1000]
        settled.update(
            (row[0], row[1], row[2])
            for row in db.execute(
                select(
                    fk, ContaminationFlag.eval_item_id, ContaminationFlag.item_content_hash
                ).where(ContaminationFlag.eval_set_id == eval_set_id, fk.in_(part))
            )
        )
    fresh = [f for f in flags
             if (f[key], f["eval_item_id"], f["item_content_hash"]) not in settled]  # fmt: skip
    if fresh:
        db.execute(dialect_insert(db, ContaminationFlag), fresh)
    return len(fresh)


def get_flag(db: Session, project_id: int, flag_id: int) -> ContaminationFlag | None:
    flag = db.get(ContaminationFlag, flag_id)
    return flag if flag is not None and flag.project_id == project_id else None


def list_flags(
    db: Session,
    project_id: int,
    *,
    status: FlagStatus | None,
    method: str | None,
    eval_set_id: int | None,
    sort: str,
    limit: int,
    offset: int,
) -> tuple[list[ContaminationFlag], int]:
    query = select(ContaminationFlag).where(ContaminationFlag.project_id == project_id)
    if status is not None:
        query = query.where(ContaminationFlag.status == status)
    if method:
        query = query.where(ContaminationFlag.method == method)
    if eval_set_id is not None:
        query = query.where(ContaminationFlag.eval_set_id == eval_set_id)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    orders: dict[str, tuple[Any, ...]] = {
        "score": (ContaminationFlag.score.desc(), ContaminationFlag.id),
        "jaccard": (ContaminationFlag.jaccard.desc(), ContaminationFlag.id),
        "containment": (ContaminationFlag.containment.desc(), ContaminationFlag.id),
        "cosine": (ContaminationFlag.cosine.desc(), ContaminationFlag.id),
        "method": (ContaminationFlag.method, ContaminationFlag.score.desc(), ContaminationFlag.id),
        "newest": (ContaminationFlag.id.desc(),),
    }
    order = orders[sort]
    rows = db.scalars(query.order_by(*order).limit(limit).offset(offset))
    return list(rows), int(total)


def open_flag_item_ids(db: Session, project_id: int, kind: ItemKind) -> set[int]:
    fk = _flag_fk(kind)
    return set(
        db.scalars(
            select(fk).where(
                ContaminationFlag.project_id == project_id,
                ContaminationFlag.status == FlagStatus.open,
                fk.is_not(None),
            )
        )
    )


def flag_counts(db: Session, project_id: int) -> list[tuple[int, str, FlagStatus, int]]:
    rows = db.execute(
        select(
            ContaminationFlag.eval_set_id,
            ContaminationFlag.method,
            ContaminationFlag.status,
            func.count(),
        )
        .where(ContaminationFlag.project_id == project_id)
        .group_by(ContaminationFlag.eval_set_id, ContaminationFlag.method, ContaminationFlag.status)
    )
    return [(int(a), str(b), FlagStatus(c), int(d)) for a, b, c, d in rows]


def checked_count(db: Session, eval_set_id: int, kind: ItemKind) -> int:
    """Items whose current content was checked against the set."""
    model = model_for(kind)
    fk = _fk(kind)
    return int(
        db.scalar(
            select(func.count())
            .select_from(ContaminationChecked)
            .join(model, fk == model.id)
            .where(
                ContaminationChecked.eval_set_id == eval_set_id,
                ContaminationChecked.content_hash == model.content_hash,
            )
        )
        or 0
    )


def item_count(db: Session, project_id: int, kind: ItemKind) -> int:
    model = model_for(kind)
    return int(db.scalar(select(func.count()).where(model.project_id == project_id)) or 0)


# -- runs --------------------------------------------------------------------------------------


def lock_run(db: Session, run_id: int) -> None:
    """Take the run's row lock with a write (on SQLite, the database write lock) before reading,
    so a later write in this transaction never meets a stale snapshot."""
    db.execute(
        update(ContaminationRun)
        .where(ContaminationRun.id == run_id)
        .values(done=ContaminationRun.done)
    )


def get_run(db: Session, run_id: int) -> ContaminationRun | None:
    return db.get(ContaminationRun, run_id)


def latest_runs(db: Session, project_id: int, limit: int = 5) -> list[ContaminationRun]:
    return list(
        db.scalars(
            select(ContaminationRun)
            .where(ContaminationRun.project_id == project_id)
            .order_by(ContaminationRun.id.desc())
            .limit(limit)
        )
    )


def last_finished_run(db: Session, project_id: int) -> ContaminationRun | None:
    return db.scalar(
        select(ContaminationRun)
        .where(ContaminationRun.project_id == project_id, ContaminationRun.finished_at.is_not(None))
        .order_by(ContaminationRun.finished_at.desc(), ContaminationRun.id.desc())
        .limit(1)
    )


def advance_run(db: Session, run_id: int, done: int, flags: int, now: datetime) -> bool:
    """Count a finished chunk; True for the chunk that completed the run (the chord's end)."""
    db.execute(
        update(ContaminationRun)
        .where(ContaminationRun.id == run_id)
        .values(done=ContaminationRun.done + done, flags=ContaminationRun.flags + flags)
    )
    result = db.execute(
        update(ContaminationRun)
        .where(
            ContaminationRun.id == run_id,
            ContaminationRun.finished_at.is_(None),
            ContaminationRun.done >= ContaminationRun.total,
        )
        .values(finished_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def get_eval_item(db: Session, eval_item_id: int) -> EvalItem | None:
    return db.get(EvalItem, eval_item_id)
