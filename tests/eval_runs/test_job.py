"""The evaluation_run job end to end on the tiny model: the tune beats the base's prompts, the
verdict is stored with the training run and its snapshot; a worker that dies mid-run is
re-queued and the new worker generates only what was not stored; a cancel stops it."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.eval_runs import execute, service
from app.eval_runs.schemas import EvaluationCreate, GatePolicyUpdate
from app.evalsets import service as evalsets
from app.evaluation.generation.base import Generation, Prompt
from app.evaluation.generation.transformers_backend import TransformersBackend
from app.jobs import service as jobs
from app.models import (
    ContaminationFlag,
    EvalItem,
    EvalSet,
    EvaluationResult,
    ItemKind,
    ItemStatus,
    Job,
    JobState,
    Project,
    TrainingRun,
    User,
)
from tests.eval_runs.conftest import Scripted
from tests.factories import SHARED_DATA, RecordingDispatcher, RunJobs, make_examples

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


class WorkerDied(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs, no job outcome stored."""


class Counting:
    """A real backend that counts the prompts it generates and can die on the n-th call."""

    calls: list[int] = []
    die_on: int | None = None

    def __init__(self, inner: Any) -> None:
        self.inner, self.name = inner, inner.name

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]:
        if Counting.die_on is not None and len(Counting.calls) + 1 == Counting.die_on:
            raise WorkerDied
        Counting.calls.append(len(prompts))
        return self.inner.generate(prompts, max_new_tokens, greedy)  # type: ignore[no-any-return]


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> type[Counting]:
    real = execute.make_backend
    monkeypatch.setattr(execute, "make_backend", lambda plan, which: Counting(real(plan, which)))
    monkeypatch.setattr(execute, "CHUNK_SIZE", 4)
    Counting.calls, Counting.die_on = [], None
    return Counting


def start(db: Session, project: Project, user: User, run: TrainingRun, **fields: Any) -> int:
    data = EvaluationCreate(model_kind="adapter", training_run_id=run.id, prompt_variant="plain",
                     **fields)  # fmt: skip
    created = service.create_run(db, project, user, data)
    db.commit()
    return created.id


def test_tune_beats_prompt_and_the_verdict_is_stored(
    db: Session, project: Project, engineer: User, arith_set: EvalSet, tuned_run: TrainingRun,
    run_jobs: RunJobs, counting: type[Counting],
) -> None:  # fmt: skip
    run_id = start(db, project, engineer, tuned_run)
    run_jobs()
    run = service.get_run(db, project, run_id)
    db.refresh(run)
    assert run.state == "succeeded", run.error
    assert run.training_run_id == tuned_run.id and run.snapshot_id == tuned_run.snapshot_id
    report = run.report
    assert report is not None
    (summary,) = report["sets"]
    # Computed by hand from the stored rows: the tune's mean and the best prompt's mean.
    rows = db.scalars(select(EvaluationResult).where(EvaluationResult.run_id == run_id)).all()
    assert len(rows) == 8 * 3 and {r.model for r in rows} == {"tune", "base:plain", "base:system"}
    tune = sum(r.score for r in rows if r.model == "tune") / 8
    best = max(
        sum(r.score for r in rows if r.model == m) / 8 for m in ("base:plain", "base:system")
    )
    assert summary["tune"]["mean"] == pytest.approx(tune) and tune >= 0.75
    assert summary["best_prompt_score"]["mean"] == pytest.approx(best) and best <= 0.25
    assert summary["gain"]["delta"] == pytest.approx(tune - best)
    assert report["verdict"] == run.verdict == "ship_tune" and run.passed is True
    assert {g["name"] for g in report["gates"]} == {"min_score", "min_gain"}
    assert all(r.latency_s > 0 for r in rows)
    assert sum(counting.calls) == 24
    assert service.list_runs(db, project, training_run_id=tuned_run.id)[0].id == run_id


def test_a_dead_worker_is_resumed_without_redoing_stored_items(
    db: Session, project: Project, engineer: User, arith_set: EvalSet, tuned_run: TrainingRun,
    run_jobs: RunJobs, dispatcher: RecordingDispatcher, counting: type[Counting],
) -> None:  # fmt: skip
    run_id = start(db, project, engineer, tuned_run)
    counting.die_on = 4  # chunks of 4: base:plain (2 chunks), base:system (1 stored), dies
    with pytest.raises(WorkerDied):
        run_jobs()
    stored = db.scalars(select(EvaluationResult).where(EvaluationResult.run_id == run_id)).all()
    assert len(stored) == 12
    first_ids = {(r.model, r.eval_item_id): r.id for r in stored}
    job = db.scalars(select(Job).where(Job.kind == "evaluation_run")).one()
    db.refresh(job)
    assert job.state is JobState.running  # nobody recorded an outcome: the worker is gone

    assert jobs.reap(db, stale_after_s=0, max_attempts=3) == [job.id]
    db.commit()
    counting.calls, counting.die_on = [], None
    run_jobs()
    assert sum(counting.calls) == 24 - 12  # only what was not stored
    rows = db.scalars(select(EvaluationResult).where(EvaluationResult.run_id == run_id)).all()
    assert len(rows) == 24
    assert all(first_ids[(r.model, r.eval_item_id)] == r.id for r in rows
               if (r.model, r.eval_item_id) in first_ids)  # fmt: skip
    run = service.get_run(db, project, run_id)
    db.refresh(run)
    assert run.state == "succeeded" and run.verdict == "ship_tune" and run.done == 24


def test_cancel_stops_after_the_chunk_in_flight(
    db: Session, project: Project, engineer: User, arith_set: EvalSet, tuned_run: TrainingRun,
    run_jobs: RunJobs, counting: type[Counting], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    run_id = start(db, project, engineer, tuned_run)
    real_store = execute._store

    def store_then_cancel(*args: Any) -> None:
        real_store(*args)
        with Session(bind=db.get_bind()) as other:
            service.request_cancel(other, service.get_run(other, project, run_id))
            other.commit()

    monkeypatch.setattr(execute, "_store", store_then_cancel)
    run_jobs()
    run = service.get_run(db, project, run_id)
    db.refresh(run)
    assert run.state == "cancelled" and run.verdict is None
    assert sum(counting.calls) == 4
    with pytest.raises(Exception, match="already cancelled"):
        service.request_cancel(db, run)


def test_few_shot_baseline_draws_approved_uncontaminated_examples(
    db: Session, project: Project, engineer: User, arith_set: EvalSet, stand_in_run: TrainingRun,
    run_jobs: RunJobs, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    seen: list[Sequence[Prompt]] = []

    class Recording(Scripted):
        def generate(
            self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
        ) -> list[Generation]:
            seen.append(prompts)
            return super().generate(prompts, max_new_tokens, greedy)

    monkeypatch.setattr(execute, "make_backend", lambda plan, which: Recording(which))
    flagged, *_ = make_examples(db, project, 3, status=ItemStatus.approved, prefix="Shot")
    make_examples(db, project, 1, prefix="Draft")  # a draft is never a shot
    item = db.scalars(select(EvalItem).where(EvalItem.eval_set_id == arith_set.id)).first()
    assert item is not None
    db.add(ContaminationFlag(project_id=project.id, eval_set_id=arith_set.id,
                             eval_item_id=item.id, item_kind=ItemKind.example,
                             example_id=flagged.id, item_content_hash=flagged.content_hash,
                             method="exact", score=1.0))  # fmt: skip
    db.commit()
    run_id = start(db, project, engineer, stand_in_run)  # few_shot: 3 by default
    run_jobs()
    run = service.get_run(db, project, run_id)
    db.refresh(run)
    assert run.state == "succeeded", run.error
    assert set(run.report["sets"][0]["models"]) == {  # type: ignore[index]
        "tune", "base:plain", "base:system", "base:system+2shot"}  # fmt: skip
    shots = [p for batch in seen for p in batch if not isinstance(p, str) and len(p) > 2]
    assert (
        shots
        and all(  # the approved examples that carry no flag, oldest first
            [m["content"] for m in p[1:-1]] == ["Shot 1?", "Answer 1.", "Shot 2?", "Answer 2."]
            for p in shots
        )
    )


def test_a_record_without_the_configured_field_fails_the_run_by_name(
    db: Session, project: Project, engineer: User, arith_set: EvalSet, stand_in_run: TrainingRun,
    run_jobs: RunJobs, scripted: None,
) -> None:  # fmt: skip
    policy = service.get_policy(db, project)
    policy.sets[arith_set.id].prompt_field = "problem"
    service.update_policy(db, project, engineer, GatePolicyUpdate(**policy.model_dump()))
    db.commit()
    run_id = start(db, project, engineer, stand_in_run)
    run_jobs()
    run = service.get_run(db, project, run_id)
    db.refresh(run)
    assert run.state == "failed" and run.report is None
    assert run.error == "eval set 'Arith' item 1: no field 'problem' in the record"


def test_multiple_choice_by_option_loglikelihood_on_mmlu_rows(
    db: Session, project: Project, engineer: User, model_dir: Path, run_jobs: RunJobs,
    dispatcher: RecordingDispatcher, tmp_path: Path,
) -> None:  # fmt: skip
    with (SHARED_DATA / "mmlu_sociology_test.csv").open(newline="", encoding="utf-8") as f:
        rows = [row for _, row in zip(range(3), csv.reader(f), strict=False)]
    path = tmp_path / "mmlu.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    eval_set = evalsets.create_from_file(db, project, engineer, name="MMLU sociology", path=path,
                                         header=False)  # fmt: skip
    evalsets.freeze(db, eval_set, engineer)
    db.commit()
    dispatcher.sent.clear()
    data = EvaluationCreate(base_model=str(model_dir), prompt_variant="plain")
    run = service.create_run(db, project, engineer, data)
    db.commit()
    run_jobs()
    db.refresh(run)
    assert run.state == "succeeded", run.error
    stored = db.scalars(select(EvaluationResult).where(EvaluationResult.run_id == run.id)).all()
    backend = TransformersBackend(model_dir)
    for result, row in zip(sorted(stored, key=lambda r: r.eval_item_id), rows, strict=True):
        options = [f"{k}. {o}" for k, o in zip("ABCD", row[1:5], strict=True)]
        prompt = "\n".join([row[0].strip(), *options, "Answer:"])
        expected = backend.option_logprobs([{"role": "user", "content": prompt}],
                                           [f" {o}" for o in row[1:5]])  # fmt: skip
        assert result.detail["by"] == "loglikelihood"
        assert result.detail["logprobs"] == pytest.approx(expected, abs=1e-4)
        assert result.output == "ABCD"[expected.index(max(expected))]
        assert result.score == float(result.output == row[5])
