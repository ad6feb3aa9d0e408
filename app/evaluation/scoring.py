"""Scorers bound to eval items: the glue between an eval set's scorer setting and the runner.

``make_scorer(name, **options)`` returns ``scorer(item, output) -> ItemScore`` for
:func:`app.evaluation.runner.run_evaluation`. Items carry what a scorer needs beyond the
reference in ``item.meta``: ``options`` (multiple choice), ``test`` and ``entry_point`` (code).
Multiple choice by log-likelihood needs the backend, not an output: see
:func:`score_choices_by_loglikelihood`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.evaluation.generation.base import LogprobBackend
from app.evaluation.runner import EvalItem, Scorer
from app.evaluation.scorers.base import ItemScore
from app.evaluation.scorers.code_exec import SandboxLimits, score_code_exec
from app.evaluation.scorers.exact_match import score_exact_match
from app.evaluation.scorers.json_format import score_json_format
from app.evaluation.scorers.multiple_choice import (
    LETTERS,
    ChoiceQuestion,
    format_question,
    score_by_letter,
    score_by_loglikelihood,
)
from app.evaluation.scorers.refusal import RefusalJudge, score_refusal

SCORERS = ("exact_match", "multiple_choice", "code_exec", "json_format", "refusal")


def choice_item(item_id: str, question: ChoiceQuestion) -> EvalItem:
    """An eval item for a multiple-choice question: the MMLU prompt, the letter as reference."""
    meta = {"question": question.question, "options": list(question.options)}
    return EvalItem(item_id, format_question(question), question.answer, meta)


def _question(item: EvalItem) -> ChoiceQuestion:
    return ChoiceQuestion(str(item.meta["question"]), tuple(item.meta["options"]), item.reference)


def make_scorer(name: str, **options: Any) -> Scorer:
    """The scorer called ``name``; ``options``: ``pattern`` (exact_match), ``limits``
    (code_exec), ``schema`` (json_format), ``judge`` (refusal)."""
    if name == "exact_match":
        pattern = options.get("pattern")
        return lambda item, output: score_exact_match(output, item.reference, pattern)
    if name == "multiple_choice":
        return lambda item, output: score_by_letter(output, _question(item))
    if name == "code_exec":
        limits: SandboxLimits | None = options.get("limits")
        return lambda item, output: score_code_exec(
            output, item.prompt, str(item.meta["test"]), str(item.meta["entry_point"]), limits
        )
    if name == "json_format":
        schema = options.get("schema")
        return lambda item, output: score_json_format(output, schema)
    if name == "refusal":
        judge: RefusalJudge | None = options.get("judge")
        return lambda item, output: score_refusal(output, item.prompt, judge)
    raise ValueError(f"unknown scorer {name!r}; expected one of {', '.join(SCORERS)}")


def score_choices_by_loglikelihood(
    backend: LogprobBackend, items: Sequence[EvalItem]
) -> list[ItemScore]:
    """Each question scored by its options' log-likelihood after the prompt (``" " + option``)."""
    scores = []
    for item in items:
        question = _question(item)
        logprobs = backend.option_logprobs(item.prompt, [f" {o}" for o in question.options])
        scores.append(score_by_loglikelihood(logprobs, question))
    return scores


__all__ = ["LETTERS", "SCORERS", "choice_item", "make_scorer", "score_choices_by_loglikelihood"]
