"""Evaluation: the gate policy and set settings, starting, reading and cancelling runs, and the
side-by-side results. Never commits; the job that scores a run lives in ``execute``.

A run freezes the policy and the set settings it starts with (``EvaluationRun.settings``), so a
later edit of the policy does not change an old run's report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from app.errors import Conflict, Invalid, NotFound
from app.eval_runs import judging, repository
from app.eval_runs.report import set_slug
from app.eval_runs.schemas import (
    EvalSetSettingsIn,
    EvaluationCreate,
    GatePolicyOut,
    GatePolicyUpdate,
)
from app.jobs import repository as jobs_repository
from app.jobs import service as jobs
from app.models import (
    EvalGatePolicy,
    EvalSet,
    EvalSetSetting,
    EvaluationRun,
    Project,
    User,
)
from app.models.base import utcnow
from app.training_runs import service as training

EVAL_JOB = "evaluation_run"
POLICY_FIELDS = ("default_min_score", "default_min_gain", "min_format_compliance",
                 "min_refusal_rate", "max_capability_drop", "capability_task_dir",
                 "capability_tasks", "few_shot", "judge_url", "judge_model",
                 "judge_api_key_env", "min_judge_win_rate")  # fmt: skip
SET_FIELDS = tuple(EvalSetSettingsIn.model_fields)


def default_settings(eval_set: EvalSet) -> EvalSetSettingsIn:
    """A guess from the set's name: safety/red-team sets are refusal sets, JSON sets format
    sets, HumanEval code, MMLU multiple choice; anything else exact match on a task."""
    name = eval_set.name.lower()
    if any(word in name for word in ("safety", "red-team", "redteam", "harm", "hh-rlhf")):
        return EvalSetSettingsIn(role="safety", scorer="refusal", max_new_tokens=128)
    if "json" in name or "format" in name:
        return EvalSetSettingsIn(role="format", scorer="json_format")
    if "humaneval" in name or "code" in name:
        return EvalSetSettingsIn(scorer="code_exec", max_new_tokens=384)
    if "mmlu" in name or "choice" in name:
        return EvalSetSettingsIn(scorer="multiple_choice", max_new_tokens=16)
    return EvalSetSettingsIn()


def get_policy(db: Session, project: Project) -> GatePolicyOut:
    """The project's policy (defaults where none is stored) and every frozen set's settings."""
    row = repository.policy(db, project.id)
    values = {f: getattr(row, f) for f in POLICY_FIELDS} if row is not None else {}
    stored = {s.eval_set_id: s for s in repository.set_settings(db, project.id)}
    sets = {}
    for eval_set in repository.frozen_sets(db, project.id):
        found = stored.get(eval_set.id)
        sets[eval_set.id] = (
            EvalSetSettingsIn.model_validate({f: getattr(found, f) for f in SET_FIELDS})
            if found is not None
            else default_settings(eval_set)
        )
    return GatePolicyOut(**values, sets=sets)


def update_policy(
    db: Session, project: Project, user: User, data: GatePolicyUpdate
) -> GatePolicyOut:
    row = repository.policy(db, project.id)
    if row is None:
        row = EvalGatePolicy(project_id=project.id)
        db.add(row)
    for field in POLICY_FIELDS:
        setattr(row, field, getattr(data, field))
    row.capability_tasks = [t.strip() for t in data.capability_tasks if t.strip()]
    row.updated_by_id = user.id
    frozen = {s.id for s in repository.frozen_sets(db, project.id)}
    stored = {s.eval_set_id: s for s in repository.set_settings(db, project.id)}
    for eval_set_id, settings in data.sets.items():
        if eval_set_id not in frozen:
            raise Invalid(
                f"eval set {eval_set_id} is not a frozen eval set of this project",
                details={"field": f"sets.{eval_set_id}"},
            )
        setting = stored.get(eval_set_id)
        if setting is None:
            setting = EvalSetSetting(project_id=project.id, eval_set_id=eval_set_id)
            db.add(setting)
        for field in SET_FIELDS:
            setattr(setting, field, getattr(settings, field))
    db.flush()
    return get_policy(db, project)


def settings_for(db: Session, project: Project, eval_sets: list[EvalSet]) -> dict[str, Any]:
    """The policy and the chosen sets' settings, frozen into the run."""
    policy = get_policy(db, project)
    out = policy.model_dump(exclude={"sets"})
    out["sets"] = {
        str(s.id): {**policy.sets[s.id].model_dump(), "slug": set_slug(s.name, s.version),
                    "name": s.name, "version": s.version}
        for s in eval_sets
    }  # fmt: skip
    return out


def _chosen_sets(db: Session, project: Project, ids: list[int]) -> list[EvalSet]:
    frozen = repository.frozen_sets(db, project.id)
    if not frozen:
        raise Invalid("the project has no frozen eval set to evaluate on: freeze one first",
                      details={"field": "eval_set_ids"})  # fmt: skip
    if not ids:
        return frozen
    by_id = {s.id: s for s in frozen}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise Invalid(
            f"eval set {missing[0]} is not a frozen eval set of project '{project.slug}'",
            details={"field": "eval_set_ids"},
        )
    return [by_id[i] for i in dict.fromkeys(ids)]


def _check_judge(settings: dict[str, Any]) -> None:
    """A set scored or confirmed by the judge needs the project's judge endpoint: refused here,
    naming the set, rather than failing the job."""
    if judging.has_judge(settings):
        return
    for eval_set_id, set_settings in settings["sets"].items():
        if judging.needs_judge(set_settings):
            what = ("is scored by the judge" if set_settings["scorer"] == "judge"
                    else "has its refusals confirmed by the judge")  # fmt: skip
            raise Invalid(
                f"eval set '{set_settings['name']}' (id {eval_set_id}) {what}, but the project "
                "has no judge endpoint: set one on the gate policy page (judge URL and model), "
                "or change the set's scorer",
                details={"field": "eval_set_ids", "eval_set_id": int(eval_set_id)},
            )


def create_run(
    db: Session, project: Project, user: User | None, data: EvaluationCreate
) -> EvaluationRun:
    """Validate the model under test, freeze the settings and queue the evaluation job."""
    eval_sets = _chosen_sets(db, project, data.eval_set_ids)
    base_model, adapter, snapshot_id = data.base_model, None, None
    if data.training_run_id is not None:
        run = training.get(db, project, data.training_run_id)
        base_model = base_model or run.base_model
        snapshot_id = run.snapshot_id
        if data.model_kind != "prompt":
            if run.state != "succeeded" or not run.adapter_path:
                raise Invalid(f"training run {run.id} is {run.state}: it has no adapter to "
                              "evaluate", details={"field": "training_run_id"})  # fmt: skip
            adapter = run.adapter_path
    if data.backend == "transformers" and not Path(base_model).is_dir():
        raise Invalid(f"base model {base_model!r} is not a local model directory",
                      details={"field": "base_model"})  # fmt: skip
    settings = settings_for(db, project, eval_sets)
    _check_judge(settings)
    row = EvaluationRun(
        project_id=project.id, training_run_id=data.training_run_id, snapshot_id=snapshot_id,
        model_kind=data.model_kind, base_model=base_model or (data.endpoint_model or ""),
        adapter_path=adapter, prompt_variant=data.prompt_variant, backend=data.backend,
        endpoint_url=data.endpoint_url, endpoint_model=data.endpoint_model,
        endpoint_base_model=data.endpoint_base_model, api_key_env=data.api_key_env,
        eval_set_ids=[s.id for s in eval_sets], settings=settings,
        state="queued", created_by_id=user.id if user else None,
    )  # fmt: skip
    repository.add(db, row)
    job = jobs.create(db, kind=EVAL_JOB, params={"run_id": row.id}, project_id=project.id,
                      user_id=user.id if user else None)  # fmt: skip
    row.job_id = job.id
    return row


def get_run(db: Session, project: Project, run_id: int) -> EvaluationRun:
    run = repository.get_run(db, run_id)
    if run is None or run.project_id != project.id:
        raise NotFound(f"evaluation run {run_id} not found in project '{project.slug}'")
    return run


def list_runs(
    db: Session, project: Project, training_run_id: int | None = None
) -> list[EvaluationRun]:
    return repository.runs_for(db, project.id, training_run_id)


def request_cancel(db: Session, run: EvaluationRun) -> EvaluationRun:
    """Cancel the run's job; the job stops after its current chunk (stored chunks are kept)."""
    if run.finished:
        raise Conflict(f"evaluation run {run.id} already {run.state}")
    if run.job_id is not None:
        jobs_repository.cancel(db, run.job_id, utcnow())
    if run.state == "queued":
        run.state, run.finished_at, run.error = "cancelled", utcnow(), "cancelled before it ran"
    return run


def mark_ended(db: Session, run_id: int, cancelled: bool, reason: str) -> None:
    """The job failed or was cancelled: the run says so, never stays running."""
    run = repository.get_run(db, run_id)
    if run is not None and not run.finished:
        run.state = "cancelled" if cancelled else "failed"
        run.error, run.finished_at = reason[:2000], utcnow()
