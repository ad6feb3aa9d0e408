"""The capability gate in the job: when the policy allows a drop and names local lm-eval task
files, the evaluation_run job runs lm-eval base vs tune and the drop is a gate of the report."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.eval_runs import service
from app.eval_runs.schemas import EvaluationCreate, GatePolicyUpdate
from app.evaluation.harness import ChoiceRow, write_choice_task
from app.models import EvalSet, Project, TrainingRun, User
from tests.factories import RunJobs

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

ROWS = [
    ChoiceRow("2 + 3 =", ["5", "9"], 0),
    ChoiceRow("4 + 4 =", ["3", "8"], 1),
    ChoiceRow("9 + 2 =", ["11", "1"], 0),
]


def test_capability_gate_from_local_task_files(
    db: Session, project: Project, engineer: User, arith_set: EvalSet, tuned_run: TrainingRun,
    run_jobs: RunJobs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    write_choice_task(tmp_path / "tasks", "tiny_sums", ROWS)
    policy = service.get_policy(db, project)
    update = policy.model_dump()
    update.update(capability_task_dir=str(tmp_path / "tasks"), capability_tasks=["tiny_sums"],
                  max_capability_drop=100.0)  # fmt: skip
    service.update_policy(db, project, engineer, GatePolicyUpdate.model_validate(update))
    run = service.create_run(db, project, engineer, EvaluationCreate(
        model_kind="adapter", training_run_id=tuned_run.id, prompt_variant="plain"))  # fmt: skip
    db.commit()
    run_jobs()
    db.refresh(run)
    assert run.state == "succeeded", run.error
    capability = run.report["capability"]  # type: ignore[index]
    gate = next(g for g in run.report["gates"] if g["name"] == "capability")  # type: ignore[index]
    assert 0.0 <= capability["base"] <= 1.0 and 0.0 <= capability["tune"] <= 1.0
    drop = (capability["base"] - capability["tune"]) * 100
    assert gate["value"] == pytest.approx(drop) and gate["threshold"] == 100.0 and gate["passed"]
    assert capability["tasks"]["tiny_sums"] == pytest.approx(drop)
