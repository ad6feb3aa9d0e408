"""Multiple choice, MMLU style: a question, four options and the answer letter.

Scored by the letter the model gives (``"Answer: C"``, ``"(C)"``, ``"C."``, a lone ``C``), or,
when the backend exposes log-probabilities, by the option with the highest log-likelihood.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.evaluation.scorers.base import ItemScore

LETTERS = "ABCD"
_PATTERNS = [
    re.compile(r"answer\s*(?:is|:)?\s*\(?((?-i:[A-D]))\b\)?", re.IGNORECASE),
    re.compile(r"^\s*\(?([A-D])(?:[.:)]|\s*$)", re.MULTILINE),
    re.compile(r"\(([A-D])\)"),
]


@dataclass(frozen=True)
class ChoiceQuestion:
    question: str
    options: tuple[str, ...]
    answer: str  # a letter

    @property
    def answer_index(self) -> int:
        return LETTERS.index(self.answer)


def parse_mmlu_row(row: Sequence[str]) -> ChoiceQuestion:
    """A header-less MMLU CSV row: question, four options, answer letter."""
    if len(row) != 6 or row[5].strip().upper() not in LETTERS:
        raise ValueError(f"not an MMLU row (question, 4 options, letter): {list(row)!r}")
    return ChoiceQuestion(row[0], tuple(row[1:5]), row[5].strip().upper())


def read_mmlu_csv(path: Path) -> Iterator[ChoiceQuestion]:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle):
            yield parse_mmlu_row(row)


def format_question(question: ChoiceQuestion) -> str:
    """The usual MMLU prompt: the question, lettered options, then ``Answer:``."""
    lines = [question.question.strip()]
    lines += [f"{letter}. {text}" for letter, text in zip(LETTERS, question.options, strict=True)]
    lines.append("Answer:")
    return "\n".join(lines)


def extract_letter(output: str) -> str | None:
    """The letter the model chose, or ``None`` when it gave none (or several bare letters)."""
    for pattern in _PATTERNS:
        match = pattern.search(output)
        if match:
            return match.group(1).upper()
    bare = set(re.findall(r"\b([A-D])\b", output))
    return bare.pop() if len(bare) == 1 else None


def score_by_letter(output: str, question: ChoiceQuestion) -> ItemScore:
    letter = extract_letter(output)
    if letter is None:
        return ItemScore(0.0, None, {"expected": question.answer, "reason": "no letter found"})
    return ItemScore(float(letter == question.answer), letter, {"expected": question.answer})


def score_by_loglikelihood(option_logprobs: Iterable[float], question: ChoiceQuestion) -> ItemScore:
    """Right when the reference option has the highest log-likelihood (first wins a tie)."""
    values = list(option_logprobs)
    if len(values) != len(question.options):
        raise ValueError(f"expected {len(question.options)} log-probabilities, got {len(values)}")
    best = max(range(len(values)), key=lambda index: values[index])
    letter = LETTERS[best]
    return ItemScore(
        float(letter == question.answer),
        letter,
        {"expected": question.answer, "logprobs": values},
    )
