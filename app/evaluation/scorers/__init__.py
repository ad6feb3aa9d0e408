"""Scorers: pure functions from a model output (and the item's reference) to an ItemScore."""

from app.evaluation.scorers.base import ItemScore
from app.evaluation.scorers.code_exec import SandboxLimits, pass_at_k, score_code_exec
from app.evaluation.scorers.exact_match import extract_answer, score_exact_match
from app.evaluation.scorers.json_format import score_json_format
from app.evaluation.scorers.multiple_choice import (
    ChoiceQuestion,
    score_by_letter,
    score_by_loglikelihood,
)
from app.evaluation.scorers.refusal import REFUSAL_PATTERNS, score_refusal

__all__ = [
    "REFUSAL_PATTERNS",
    "ChoiceQuestion",
    "ItemScore",
    "SandboxLimits",
    "extract_answer",
    "pass_at_k",
    "score_by_letter",
    "score_by_loglikelihood",
    "score_code_exec",
    "score_exact_match",
    "score_json_format",
    "score_refusal",
]
