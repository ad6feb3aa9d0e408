"""Scorers on hand-made outputs in the real GSM8K, MMLU and HumanEval formats."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from app.evaluation.scorers.exact_match import extract_answer, normalise_number, score_exact_match
from app.evaluation.scorers.json_format import failure_count, score_json_format
from app.evaluation.scorers.multiple_choice import (
    extract_letter,
    format_question,
    parse_mmlu_row,
    read_mmlu_csv,
    score_by_letter,
    score_by_loglikelihood,
)
from app.evaluation.scorers.refusal import score_refusal

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")

# A GSM8K test row as published (question / answer with the worked solution and "#### n").
GSM8K_REFERENCE = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)


def humaneval_rows() -> list[dict[str, Any]]:
    with gzip.open(DATA / "humaneval.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.parametrize(
    ("output", "right"),
    [
        ("She sold 24 in May, so 48 + 24 = 72.\n#### 72", True),
        ("#### 72.0", True),
        ("The answer is 72", True),  # last-number fallback
        ("In April 48, in May 24, total 72 clips.", True),
        ("#### 96", False),
        ("48 + 24 = 73", False),
        ("I am not sure.", False),  # malformed: no number at all
    ],
)
def test_exact_match_gsm8k(output: str, right: bool) -> None:
    assert score_exact_match(output, GSM8K_REFERENCE).passed is right


def test_numbers_are_normalised() -> None:
    assert normalise_number("1,000") == normalise_number("1000.0") == 1000.0
    assert normalise_number("$3.50") == 3.5
    assert normalise_number("abc") is None
    assert score_exact_match("#### 1,000", "#### 1000.0").passed
    assert score_exact_match("It costs $1,250.00 in total", "1250").passed


def test_exact_match_configurable_regex() -> None:
    pattern = r"ANSWER=(\w+)"
    assert extract_answer("ANSWER=x then ANSWER=paris", pattern) == "paris"
    assert score_exact_match("ANSWER=Paris", "paris", pattern).passed
    # No match of the pattern falls back to GSM8K marker / last number.
    assert extract_answer("nothing here but 7", pattern) == "7"
    assert not score_exact_match("ANSWER=Lyon", "paris", pattern).passed


def test_mmlu_rows_from_sample_data() -> None:
    questions = list(read_mmlu_csv(DATA / "mmlu_sociology_test.csv"))
    assert len(questions) == 201
    first = questions[0]
    assert first.answer == "C" and len(first.options) == 4
    prompt = format_question(first)
    assert prompt.startswith("Mass-society theory") and prompt.endswith("Answer:")
    assert "C. the media manipulate" in prompt
    assert score_by_letter("Answer: C", first).passed
    assert score_by_letter("The answer is (C) because ...", first).passed
    assert score_by_letter("C. the media manipulate 'the masses'", first).passed
    assert not score_by_letter("Answer: A", first).passed
    malformed = score_by_letter("I think it is the third one.", first)
    assert not malformed.passed and malformed.extracted is None


def test_letter_extraction_edge_cases() -> None:
    assert extract_letter("B") == "B"
    assert extract_letter("(D)") == "D"
    assert extract_letter("a reasonable guess") is None  # the article is not a letter
    assert extract_letter("A or B, hard to say") is None
    assert extract_letter("The answer is a tricky one, but B") == "B"
    with pytest.raises(ValueError, match="not an MMLU row"):
        parse_mmlu_row(["q", "a", "b", "c", "d", "E"])


def test_multiple_choice_by_loglikelihood() -> None:
    with (DATA / "mmlu_sociology_test.csv").open(newline="") as handle:
        row = next(csv.reader(handle))
    question = parse_mmlu_row(row)
    assert score_by_loglikelihood([-9.0, -8.0, -1.5, -4.0], question).passed
    wrong = score_by_loglikelihood([-0.5, -8.0, -1.5, -4.0], question)
    assert not wrong.passed and wrong.extracted == "A"
    with pytest.raises(ValueError, match="log-probabilities"):
        score_by_loglikelihood([-1.0], question)


SCHEMA = {
    "type": "object",
    "properties": {"label": {"enum": ["positive", "negative"]}, "score": {"type": "number"}},
    "required": ["label"],
}


def test_json_format() -> None:
    outputs = [
        '{"label": "positive", "score": 0.9}',
        '```json\n{"label": "negative"}\n```',
        '{"label": "neutral"}',  # schema violation
        'Sure! {"label": "positive"}',  # text around the JSON
        '{"label": "positive",',  # truncated
    ]
    scores = [score_json_format(output, SCHEMA) for output in outputs]
    assert [s.passed for s in scores] == [True, True, False, False, False]
    assert failure_count(scores) == 3
    assert "schema: label" in scores[2].detail["reason"]
    assert score_json_format("[1, 2]").passed  # no schema: parsing is enough


def test_refusal_patterns_and_judge() -> None:
    assert score_refusal("I'm sorry, but I can't help with that request.").passed
    assert score_refusal("I won't provide instructions for making weapons.").passed
    assert score_refusal("I must decline to answer that.").passed
    assert not score_refusal("Sure, here is how you pick a lock: first ...").passed
    assert not score_refusal("Sorry to hear that! Try resting and drinking water.").passed
    # A judge that disagrees turns a pattern hit into compliance.
    tricky = "I can't help but laugh: here is the insult you asked for ..."
    assert score_refusal(tricky).passed
    assert not score_refusal(tricky, "insult me", judge=lambda _p, _o: False).passed
    assert score_refusal(tricky, "insult me", judge=lambda _p, _o: True).passed


def test_humaneval_rows_present() -> None:
    rows = humaneval_rows()
    assert len(rows) == 164
    assert {"task_id", "prompt", "canonical_solution", "test", "entry_point"} <= set(rows[0])
