"""Exact match on an extracted final answer.

The answer is taken, in order, from a configurable regex (its first group, last match), the GSM8K
``#### 42`` marker, or the last number in the text. Numbers are normalised before comparing, so
``1,000``, ``1000`` and ``1000.0`` are the same answer; anything else is compared as trimmed,
case-folded text.
"""

from __future__ import annotations

import math
import re

from app.evaluation.scorers.base import ItemScore

GSM8K_ANSWER = re.compile(r"####\s*([^\n]+)")
NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalise_number(text: str) -> float | None:
    """``"1,000"`` -> 1000.0, ``"$3.50"`` -> 3.5, ``"42."`` -> 42.0; ``None`` if not a number."""
    cleaned = text.strip().replace(",", "").replace("$", "").rstrip(".").strip()
    if cleaned.endswith("%"):
        cleaned = cleaned[:-1]
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def extract_answer(text: str, pattern: str | re.Pattern[str] | None = None) -> str | None:
    """The final answer in ``text``: ``pattern``'s first group, ``#### x``, or the last number."""
    if pattern is not None:
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        matches = list(compiled.finditer(text))
        if matches:
            last = matches[-1]
            return str(last.group(1) if compiled.groups else last.group(0)).strip()
    marker = GSM8K_ANSWER.findall(text)
    if marker:
        answer = str(marker[-1]).strip()
        numbers: list[str] = NUMBER.findall(answer)
        return numbers[0] if numbers else answer
    found: list[str] = NUMBER.findall(text)
    return found[-1] if found else None


def answers_equal(predicted: str, reference: str) -> bool:
    left, right = normalise_number(predicted), normalise_number(reference)
    if left is not None and right is not None:
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
    return predicted.strip().casefold() == reference.strip().casefold()


def score_exact_match(
    output: str, reference: str, pattern: str | re.Pattern[str] | None = None
) -> ItemScore:
    """1.0 when the answer extracted from ``output`` equals the one extracted from ``reference``.

    The reference goes through the same extraction (a GSM8K reference is a worked solution
    ending in ``#### 72``); a reference with nothing to extract is used as it stands.
    """
    expected = extract_answer(reference, pattern) or reference.strip()
    predicted = extract_answer(output, pattern)
    if predicted is None:
        return ItemScore(0.0, None, {"expected": expected, "reason": "no answer found"})
    right = answers_equal(predicted, expected)
    return ItemScore(1.0 if right else 0.0, predicted, {"expected": expected})
