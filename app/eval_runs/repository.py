"""All SQL for evaluation: gate policies, set settings, runs and per-item results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.models import (
    ContaminationFlag,
    EvalGatePolicy,
    EvalItem,
    EvalSet,
    EvalSetSetting,
    EvaluationResult,
    EvaluationRun,
    Example,
    FlagStatus,
    ItemStatus,
)


def policy(db: Session, project_id: int) -> EvalGatePolicy | None:
    return db.scalars(select(EvalGatePolicy).where(EvalGatePolicy.project_id == project_id)).first()


def set_settings(db: Session, project_id: int) -> list[EvalSetSetting]:
    return list(db.scalars(select(EvalSetSetting).where(EvalSetSetting.project_id == project_id)))


def add(db: Session, row: Any) -> None:
    db.add(row)
    db.flush()


def get_run(db: Session, run_id: int) -> EvaluationRun | None:
    return db.get(EvaluationRun, run_id)


def get_run_for_update(db: Session, run_id: int) -> EvaluationRun | None:
    return db.scalars(
        select(EvaluationRun).where(EvaluationRun.id == run_id).with_for_update()
    ).first()


def runs_for(
    db: Session, project_id: int, training_run_id: int | None = None, limit: int = 100
) -> list[EvaluationRun]:
    query = select(EvaluationRun).where(EvaluationRun.project_id == project_id)
    if training_run_id is not None:
        query = query.where(EvaluationRun.training_run_id == training_run_id)
    return list(db.scalars(query.order_by(EvaluationRun.id.desc()).limit(limit)))


def frozen_sets(db: Session, project_id: int) -> list[EvalSet]:
    return list(
        db.scalars(
            select(EvalSet)
            .where(EvalSet.project_id == project_id, EvalSet.frozen_at.is_not(None))
            .order_by(EvalSet.name, EvalSet.version)
        )
    )


def items_of(db: Session, eval_set_id: int) -> list[EvalItem]:
    return list(
        db.scalars(
            select(EvalItem).where(EvalItem.eval_set_id == eval_set_id).order_by(EvalItem.position)
        )
    )


def items_by_id(db: Session, ids: Sequence[int]) -> dict[int, EvalItem]:
    if not ids:
        return {}
    return {i.id: i for i in db.scalars(select(EvalItem).where(EvalItem.id.in_(list(ids))))}


def done_keys(db: Session, run_id: int) -> set[tuple[str, int]]:
    """(model, eval item id) already stored for the run."""
    rows = db.execute(
        select(EvaluationResult.model, EvaluationResult.eval_item_id).where(
            EvaluationResult.run_id == run_id
        )
    )
    return {(str(model), int(item)) for model, item in rows}


def results(db: Session, run_id: int, eval_set_id: int | None = None) -> list[EvaluationResult]:
    query = select(EvaluationResult).where(EvaluationResult.run_id == run_id)
    if eval_set_id is not None:
        query = query.where(EvaluationResult.eval_set_id == eval_set_id)
    return list(db.scalars(query.order_by(EvaluationResult.eval_item_id, EvaluationResult.model)))


def results_of_item(db: Session, run_id: int, eval_item_id: int) -> list[EvaluationResult]:
    return list(
        db.scalars(
            select(EvaluationResult)
            .where(EvaluationResult.run_id == run_id, EvaluationResult.eval_item_id == eval_item_id)
            .order_by(EvaluationResult.model)
        )
    )


def result_count(db: Session, run_id: int) -> int:
    count = db.scalar(select(func.count()).where(EvaluationResult.run_id == run_id))
    return int(count or 0)


def add_results(db: Session, rows: Sequence[EvaluationResult]) -> None:
    db.add_all(rows)
    db.flush()


def clean_approved_examples(db: Session, project_id: int, limit: int) -> list[Example]:
    """Approved examples with no open or upheld contamination flag, oldest first."""
    flagged = select(ContaminationFlag.example_id).where(
        ContaminationFlag.example_id.is_not(None),
        ContaminationFlag.status != FlagStatus.dismissed,
    )
    return list(
        db.scalars(
            select(Example)
            .where(
                Example.project_id == project_id,
                Example.status == ItemStatus.approved,
                Example.needs_response.is_(False),
                Example.id.not_in(flagged),
            )
            .order_by(Example.id)
            .limit(limit)
        )
    )
