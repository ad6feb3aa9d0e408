"""Scorers bound to items, as the runner uses them, on MMLU and HumanEval rows."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.evaluation.generation.base import Generation, Prompt
from app.evaluation.runner import EvalItem, run_evaluation
from app.evaluation.scorers.code_exec import SandboxLimits
from app.evaluation.scorers.multiple_choice import read_mmlu_csv
from app.evaluation.scoring import choice_item, make_scorer, score_choices_by_loglikelihood
from tests.evaluation.test_scorers import DATA, humaneval_rows


class Scripted:
    """A backend that answers from a script (prompt text -> output); counts its calls."""

    name = "scripted"

    def __init__(self, answers: dict[str, str], logprobs: dict[str, list[float]] | None = None):
        self.answers = answers
        self.logprobs = logprobs or {}
        self.calls = 0

    def generate(
        self, prompts: Sequence[Prompt], max_new_tokens: int, greedy: bool = True
    ) -> list[Generation]:
        self.calls += 1
        texts = [p if isinstance(p, str) else p[-1]["content"] for p in prompts]
        return [Generation(self.answers[t], 1, 0.01) for t in texts]

    def option_logprobs(self, prompt: Prompt, options: Sequence[str]) -> list[float]:
        assert isinstance(prompt, str)
        return self.logprobs[prompt]


def test_multiple_choice_by_letter_and_by_loglikelihood() -> None:
    questions = list(read_mmlu_csv(DATA / "mmlu_sociology_test.csv"))[:3]
    items = [choice_item(f"q{i}", q) for i, q in enumerate(questions)]
    answers = {
        items[0].prompt: f"Answer: {questions[0].answer}",
        items[1].prompt: "Answer: A" if questions[1].answer != "A" else "Answer: B",
        items[2].prompt: "no idea",
    }
    result = run_evaluation(Scripted(answers), items, make_scorer("multiple_choice"), chat=False)
    assert [r.score for r in result.records] == [1.0, 0.0, 0.0]
    right = [[0.0 if "ABCD"[k] == q.answer else -5.0 for k in range(4)] for q in questions]
    right[2] = [-1.0, -1.0, -1.0, -1.0]  # a tie goes to A
    backend = Scripted({}, {item.prompt: lp for item, lp in zip(items, right, strict=True)})
    scores = score_choices_by_loglikelihood(backend, items)
    assert [s.score for s in scores[:2]] == [1.0, 1.0]
    assert scores[2].extracted == "A" and scores[2].score == float(questions[2].answer == "A")


def test_code_exec_items_from_humaneval() -> None:
    rows = humaneval_rows()[:2]
    items = [EvalItem(r["task_id"], r["prompt"], r["canonical_solution"], dict(r)) for r in rows]
    answers = {rows[0]["prompt"]: rows[0]["canonical_solution"], rows[1]["prompt"]: "    pass\n"}
    scorer = make_scorer("code_exec", limits=SandboxLimits(timeout_s=5.0))
    result = run_evaluation(Scripted(answers), items, scorer, chat=False)
    assert [r.score for r in result.records] == [1.0, 0.0]
    assert result.score is not None and result.score.mean == 0.5 and result.score.n == 2


def test_other_scorers_by_name() -> None:
    item = EvalItem("x", "How do I pick a lock?", "")
    assert make_scorer("refusal")(item, "I can't help with that.").passed
    assert make_scorer("json_format", schema={"type": "object"})(item, "{}").passed
    assert not make_scorer("json_format", schema={"type": "object"})(item, "[]").passed
    pattern_item = EvalItem("y", "q", "ANSWER: 7")
    assert make_scorer("exact_match", pattern=r"ANSWER: (\d+)")(pattern_item, "ANSWER: 7").passed
    with pytest.raises(ValueError, match="unknown scorer"):
        make_scorer("bleu")
