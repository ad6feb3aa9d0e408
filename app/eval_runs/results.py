"""The side-by-side view of a run's items: prompt, reference, each model's output and score,
filterable to regressions (the base with the set's best prompt right, the tune wrong)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.errors import Invalid, NotFound
from app.eval_runs import repository
from app.eval_runs.items import FieldSettings, ItemFieldError, category_of, to_item
from app.eval_runs.report import regression
from app.eval_runs.schemas import EvaluationItemOut, EvaluationItemPage
from app.models import EvalItem, EvaluationResult, EvaluationRun


def best_prompts(run: EvaluationRun) -> dict[int, str | None]:
    """Eval set id -> the name of its best prompt variant, from the run's report."""
    sets = (run.report or {}).get("sets", [])
    return {int(s["eval_set_id"]): s.get("best_prompt") for s in sets}


def _fields(run: EvaluationRun, eval_set_id: int) -> FieldSettings:
    s = run.settings["sets"][str(eval_set_id)]
    return FieldSettings(s["scorer"], s["prompt_field"], s["reference_field"], s["category_field"])


def _row(
    run: EvaluationRun, item: EvalItem, rows: list[EvaluationResult], best: str | None
) -> EvaluationItemOut:
    fields = _fields(run, item.eval_set_id)
    try:
        shaped = to_item(str(item.id), item.original, fields)
        prompt, reference = shaped.prompt, shaped.reference
    except ItemFieldError:
        prompt, reference = item.text, ""
    outputs: dict[str, dict[str, Any]] = {
        r.model: {"output": r.output, "score": r.score, "extracted": r.extracted,
                  "detail": r.detail, "latency_s": r.latency_s}
        for r in rows
    }  # fmt: skip
    scores = {name: float(o["score"]) for name, o in outputs.items()}
    return EvaluationItemOut(
        eval_item_id=item.id, eval_set_id=item.eval_set_id, position=item.position,
        category=category_of(item.original, fields), prompt=prompt, reference=reference,
        outputs=outputs, regression=regression(scores, best),
    )  # fmt: skip


def page(
    db: Session,
    run: EvaluationRun,
    *,
    eval_set_id: int | None = None,
    regressions: bool = False,
    offset: int = 0,
    limit: int = 50,
) -> EvaluationItemPage:
    """Items in set and position order, ``limit`` from ``offset``, each with every model."""
    if offset < 0 or not 1 <= limit <= 500:
        raise Invalid("offset must be 0 or more and limit between 1 and 500")
    if eval_set_id is not None and eval_set_id not in run.eval_set_ids:
        raise Invalid(f"eval set {eval_set_id} is not part of evaluation run {run.id}",
                      details={"field": "eval_set_id"})  # fmt: skip
    stored = repository.results(db, run.id, eval_set_id)
    grouped: dict[int, list[EvaluationResult]] = {}
    for row in stored:
        grouped.setdefault(row.eval_item_id, []).append(row)
    items = repository.items_by_id(db, list(grouped))
    best = best_prompts(run)
    ordered = sorted(items.values(), key=lambda i: (run.eval_set_ids.index(i.eval_set_id),
                                                    i.position))  # fmt: skip
    out = [_row(run, item, grouped[item.id], best.get(item.eval_set_id)) for item in ordered]
    if regressions:
        out = [row for row in out if row.regression]
    chosen = out[offset : offset + limit]
    next_offset = offset + limit if offset + limit < len(out) else None
    return EvaluationItemPage(items=chosen, total=len(out), next_offset=next_offset)


def one(db: Session, run: EvaluationRun, eval_item_id: int) -> EvaluationItemOut:
    """One item of the run, as the side-by-side view shows it."""
    rows = repository.results_of_item(db, run.id, eval_item_id)
    item = repository.items_by_id(db, [eval_item_id]).get(eval_item_id)
    if not rows or item is None:
        raise NotFound(f"eval item {eval_item_id} has no result in evaluation run {run.id}")
    return _row(run, item, rows, best_prompts(run).get(item.eval_set_id))
