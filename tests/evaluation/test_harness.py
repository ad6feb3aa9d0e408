"""General capability through lm-eval on a tiny local multiple-choice task: base vs tune, the
drop reported, and lm-eval's accuracy checked against our own log-likelihood scoring."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.evaluation.gates import GatePolicy, SetScores, evaluate_gates
from app.evaluation.generation.transformers_backend import TransformersBackend
from app.evaluation.harness import ChoiceRow, compare_capability, write_choice_task
from app.evaluation.scorers.multiple_choice import ChoiceQuestion, score_by_loglikelihood
from tests.evaluation.arith import train_adapter
from tests.training.tiny_model import build_tiny_model

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

ROWS = [
    ChoiceRow("What colour is the sky?", ["blue", "green", "purple"], 0),
    ChoiceRow("What colour is grass?", ["blue", "green", "purple"], 1),
    ChoiceRow("What do cats say?", ["woof", "meow"], 1),
    ChoiceRow("What do dogs say?", ["woof", "meow"], 0),
    ChoiceRow("Where is Paris?", ["in Spain", "in France"], 1),
    ChoiceRow("What is ice?", ["frozen water", "hot sand"], 0),
]


def _own_accuracy(backend: TransformersBackend) -> float:
    right = 0.0
    for row in ROWS:
        letters = "ABC"[: len(row.choices)]
        question = ChoiceQuestion(row.question, tuple(row.choices), letters[row.answer])
        logprobs = backend.option_logprobs(
            f"{row.question}\nAnswer:", [f" {c}" for c in row.choices]
        )
        right += score_by_loglikelihood(logprobs, question).score
    return right / len(ROWS)


def test_capability_drop_base_vs_tune(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    model_dir = build_tiny_model(tmp_path / "model", seed=1)
    adapter_dir = train_adapter(model_dir, tmp_path / "adapter", steps=15)
    task_yaml = write_choice_task(tmp_path / "tasks", "tiny_facts", ROWS)
    assert "dataset_path" in task_yaml.read_text()

    comparison = compare_capability(model_dir, adapter_dir, tmp_path / "tasks", ["tiny_facts"])
    base, tune = comparison.base["tiny_facts"], comparison.tune["tiny_facts"]
    assert base.n == tune.n == len(ROWS)
    # lm-eval's accuracy is the same as scoring the options ourselves.
    assert base.accuracy == pytest.approx(_own_accuracy(TransformersBackend(model_dir)))
    tuned = TransformersBackend(model_dir, adapter_dir=adapter_dir)
    assert tune.accuracy == pytest.approx(_own_accuracy(tuned))

    drop = (base.accuracy - tune.accuracy) * 100
    assert comparison.drops() == {"tiny_facts": pytest.approx(drop)}
    capability = comparison.capability()
    assert capability.drop_points == pytest.approx(drop)
    report = evaluate_gates(
        [SetScores("s", "task", [1.0] * 4, {"p": [0.0] * 4})],
        GatePolicy(max_capability_drop=2.0),
        capability,
    )
    gate = next(g for g in report.gates if g.name == "capability")
    assert gate.value == pytest.approx(drop) and gate.passed is (drop <= 2.0)
