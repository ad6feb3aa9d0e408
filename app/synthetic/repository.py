"""All SQL for synthetic generation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    EvalSet,
    Example,
    ItemStatus,
    PreferencePair,
    SyntheticProvenance,
    SyntheticRun,
    SyntheticSettings,
    SyntheticTemplate,
)


def settings(db: Session, project_id: int) -> SyntheticSettings | None:
    return db.get(SyntheticSettings, project_id)


def latest_templates(db: Session, project_id: int) -> list[SyntheticTemplate]:
    """The newest version of each template the project edited."""
    newest = (
        select(SyntheticTemplate.name, func.max(SyntheticTemplate.version).label("v"))
        .where(SyntheticTemplate.project_id == project_id)
        .group_by(SyntheticTemplate.name)
        .subquery()
    )
    query = select(SyntheticTemplate).join(
        newest,
        (SyntheticTemplate.name == newest.c.name) & (SyntheticTemplate.version == newest.c.v),
    )
    return list(db.scalars(query.where(SyntheticTemplate.project_id == project_id)))


def template_versions(db: Session, project_id: int, name: str) -> list[SyntheticTemplate]:
    query = select(SyntheticTemplate).where(
        SyntheticTemplate.project_id == project_id, SyntheticTemplate.name == name
    )
    return list(db.scalars(query.order_by(SyntheticTemplate.version.desc())))


def next_template_version(db: Session, project_id: int, name: str) -> int:
    current = db.scalar(
        select(func.max(SyntheticTemplate.version)).where(
            SyntheticTemplate.project_id == project_id, SyntheticTemplate.name == name
        )
    )
    return (current or 0) + 1


def get_run(db: Session, project_id: int, run_id: int) -> SyntheticRun | None:
    run = db.get(SyntheticRun, run_id)
    return run if run is not None and run.project_id == project_id else None


def list_runs(db: Session, project_id: int, limit: int = 50) -> list[SyntheticRun]:
    query = select(SyntheticRun).where(SyntheticRun.project_id == project_id)
    return list(db.scalars(query.order_by(SyntheticRun.id.desc()).limit(limit)))


def first_user_turns(
    db: Session, project_id: int, status: ItemStatus | None = None, ids: Sequence[int] = ()
) -> list[tuple[int, list[dict[str, Any]]]]:
    """(id, messages) of the project's examples, optionally only with `status` / among `ids`."""
    query = select(Example.id, Example.messages).where(Example.project_id == project_id)
    if status is not None:
        query = query.where(Example.status == status)
    if ids:
        query = query.where(Example.id.in_(list(ids)))
    return [(i, m) for i, m in db.execute(query.order_by(Example.id))]


def drafts_needing_response(
    db: Session, project_id: int, ids: Sequence[int] = ()
) -> list[tuple[int, list[dict[str, Any]]]]:
    query = select(Example.id, Example.messages).where(
        Example.project_id == project_id,
        Example.needs_response.is_(True),
        Example.status == ItemStatus.draft,
    )
    if ids:
        query = query.where(Example.id.in_(list(ids)))
    return [(i, m) for i, m in db.execute(query.order_by(Example.id))]


def existing_hashes(db: Session, project_id: int, hashes: Sequence[str]) -> set[str]:
    if not hashes:
        return set()
    query = select(Example.content_hash).where(
        Example.project_id == project_id, Example.content_hash.in_(list(hashes))
    )
    return set(db.scalars(query))


def existing_pair_hashes(db: Session, project_id: int, hashes: Sequence[str]) -> set[str]:
    if not hashes:
        return set()
    query = select(PreferencePair.content_hash).where(
        PreferencePair.project_id == project_id, PreferencePair.content_hash.in_(list(hashes))
    )
    return set(db.scalars(query))


def frozen_sets(db: Session, project_id: int) -> list[EvalSet]:
    query = select(EvalSet).where(EvalSet.project_id == project_id, EvalSet.frozen_at.is_not(None))
    return list(db.scalars(query.order_by(EvalSet.id)))


def provenance_of(db: Session, example_id: int) -> SyntheticProvenance | None:
    query = select(SyntheticProvenance).where(SyntheticProvenance.example_id == example_id)
    return db.scalars(query.order_by(SyntheticProvenance.id.desc())).first()


def provenance_of_pair(db: Session, pair_id: int) -> SyntheticProvenance | None:
    query = select(SyntheticProvenance).where(SyntheticProvenance.pair_id == pair_id)
    return db.scalars(query.order_by(SyntheticProvenance.id.desc())).first()
