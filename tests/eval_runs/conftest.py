"""Shared fixtures: the tiny random Llama and a LoRA tune of it that memorises the arithmetic
set (once per session), a project whose frozen eval set holds that set, and a succeeded
training run whose adapter is the tune."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.eval_runs import service
from app.eval_runs.schemas import PolicyUpdate, SetSettingsIn
from app.evalsets import service as evalsets
from app.jobs import repository as jobs_repository
from app.models import EvalSet, Project, TrainingRun, User
from app.models.base import utcnow
from tests.evaluation.arith import ARITHMETIC, SYSTEM_PROMPT, train_adapter
from tests.factories import RecordingDispatcher, write_jsonl
from tests.training.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def adapter_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_adapter(model_dir, tmp_path_factory.mktemp("tune") / "adapter")


@pytest.fixture(scope="session", autouse=True)
def one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def arith_records() -> list[dict[str, str]]:
    return [
        {"question": q, "answer": f"#### {a}", "category": "small" if int(a) < 10 else "large"}
        for q, a in ARITHMETIC
    ]


@pytest.fixture
def arith_set(
    db: Session, project: Project, engineer: User, tmp_path: Path, dispatcher: RecordingDispatcher
) -> EvalSet:
    """The arithmetic set, frozen (its contamination index job is not run here)."""
    project.system_prompt = SYSTEM_PROMPT
    path = write_jsonl(tmp_path / "arith.jsonl", arith_records())
    eval_set = evalsets.create_from_file(db, project, engineer, name="Arith", path=path)
    index_job = evalsets.freeze(db, eval_set, engineer)
    jobs_repository.cancel(db, index_job.id, utcnow())
    service.update_policy(
        db, project, engineer,
        PolicyUpdate(default_min_score=0.75, default_min_gain=0.5,
                     sets={eval_set.id: SetSettingsIn(max_new_tokens=6)}),
    )  # fmt: skip
    db.commit()
    dispatcher.sent.clear()
    return eval_set


@pytest.fixture
def tuned_run(db: Session, project: Project, model_dir: Path, adapter_dir: Path) -> TrainingRun:
    run = TrainingRun(
        project_id=project.id, method="sft", base_model=str(model_dir), preset="lora",
        config={}, state="succeeded", adapter_path=str(adapter_dir), run_dir="",
    )  # fmt: skip
    db.add(run)
    db.commit()
    return run
