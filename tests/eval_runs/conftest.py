"""Shared fixtures: the tiny random Llama and a LoRA tune of it that memorises the arithmetic
set (once per session), a project whose frozen eval set holds that set, and a succeeded
training run whose adapter is the tune."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.eval_runs import execute, service
from app.eval_runs.schemas import EvalSetSettingsIn, EvaluationCreate, GatePolicyUpdate
from app.evalsets import service as evalsets
from app.evaluation.generation.base import Generation, Prompt
from app.jobs import repository as jobs_repository
from app.models import EvalSet, EvaluationRun, Project, TrainingRun, User
from app.models.base import utcnow
from tests.evaluation.arith import ARITHMETIC, SYSTEM_PROMPT, train_adapter
from tests.factories import RecordingDispatcher, RunJobs, write_jsonl
from tests.training.tiny_model import build_tiny_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)  # a tiny model: threads only contend with the other tests
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def adapter_dir(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_adapter(model_dir, tmp_path_factory.mktemp("tune") / "adapter")


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
        GatePolicyUpdate(default_min_score=0.75, default_min_gain=0.5,
                     sets={eval_set.id: EvalSetSettingsIn(max_new_tokens=6)}),
    )  # fmt: skip
    db.commit()
    dispatcher.sent.clear()
    return eval_set


def succeeded_run(db: Session, project: Project, base: Path, adapter: Path) -> TrainingRun:
    run = TrainingRun(
        project_id=project.id, method="sft", base_model=str(base), preset="lora",
        config={}, state="succeeded", adapter_path=str(adapter), run_dir="",
    )  # fmt: skip
    db.add(run)
    db.commit()
    return run


@pytest.fixture
def tuned_run(db: Session, project: Project, model_dir: Path, adapter_dir: Path) -> TrainingRun:
    """A succeeded training run whose adapter is the real tune of the tiny model."""
    return succeeded_run(db, project, model_dir, adapter_dir)


@pytest.fixture
def stand_in_run(db: Session, project: Project, tmp_path: Path) -> TrainingRun:
    """A succeeded training run whose model and adapter are never loaded (scripted outputs)."""
    (tmp_path / "base").mkdir()
    (tmp_path / "adapter").mkdir()
    return succeeded_run(db, project, tmp_path / "base", tmp_path / "adapter")


ANSWERS = dict(ARITHMETIC)
#: The tune's output on the one item it gets wrong (and the base gets right): markup, to check
#: every page escapes model outputs.
HOSTILE = "<script>alert('tune')</script> 4"


class Scripted:
    """A backend with known outputs, for the page and API tests (the job, the scorer, the
    report and the database are the real ones): the base is right on "2 + 3 =" only; the tune
    is right on every other item, and answers that one with markup."""

    def __init__(self, which: str) -> None:
        self.which, self.name = which, f"scripted-{which}"

    def answer(self, prompt: Prompt) -> str:
        question = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        if self.which == "base":
            return ANSWERS[question] if question == "2 + 3 =" else "0"
        return HOSTILE if question == "2 + 3 =" else f"<b>{ANSWERS[question]}</b>"

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]:
        return [Generation(self.answer(p), 3, 0.01) for p in prompts]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(execute, "make_backend", lambda plan, which: Scripted(which))


@pytest.fixture
def finished_run(
    db: Session, project: Project, engineer: User, arith_set: EvalSet,
    stand_in_run: TrainingRun, scripted: None, run_jobs: RunJobs,
) -> EvaluationRun:  # fmt: skip
    """An adapter run of a training run, scored (scripted outputs) and reported."""
    data = EvaluationCreate(model_kind="adapter", training_run_id=stand_in_run.id)
    run = service.create_run(db, project, engineer, data)
    db.commit()
    run_jobs()
    db.refresh(run)
    assert run.state == "succeeded", run.error
    return run
