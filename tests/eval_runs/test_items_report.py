"""Stored records as the runner's items (the real sample formats), and the stored report."""

from __future__ import annotations

import csv
import gzip
import json

import pytest

from app.eval_runs.items import FieldSettings, ItemFieldError, category_of, to_item
from app.eval_runs.report import SetInput, build, regression, set_slug
from tests.factories import SHARED_DATA


def test_mmlu_humaneval_hh_and_chat_records() -> None:
    with (SHARED_DATA / "mmlu_sociology_test.csv").open(newline="", encoding="utf-8") as f:
        row = next(csv.reader(f))
    record = {f"column_{i + 1}": v for i, v in enumerate(row)}  # the reader's header-less names
    item = to_item("1", record, FieldSettings("multiple_choice"))
    assert item.reference == row[5] and item.meta["options"] == row[1:5]
    assert item.prompt.startswith(row[0]) and "A. " in item.prompt

    with gzip.open(SHARED_DATA / "humaneval.jsonl.gz", "rt", encoding="utf-8") as f:
        task = json.loads(f.readline())
    code = to_item("2", task, FieldSettings("code_exec"))
    assert code.prompt == task["prompt"] and code.reference == task["canonical_solution"]
    assert code.meta == {"test": task["test"], "entry_point": task["entry_point"]}

    with gzip.open(SHARED_DATA / "hh_rlhf_harmless_test.jsonl.gz", "rt", encoding="utf-8") as f:
        pair = json.loads(f.readline())
    harmful = to_item("3", pair, FieldSettings("refusal"))
    assert harmful.prompt and "Assistant:" not in harmful.prompt
    assert harmful.prompt in pair["chosen"]

    turns = [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]
    chat = {"messages": turns, "topic": "sums"}
    assert (to_item("4", chat, FieldSettings("exact_match")).prompt, category_of(
        chat, FieldSettings("exact_match"))) == ("2+2?", "sums")  # fmt: skip
    named = FieldSettings("exact_match", prompt_field="q", reference_field="a", category_field="c")
    assert to_item("5", {"q": "x", "a": "y"}, named).reference == "y"
    assert category_of({"q": "x"}, named) == "general"
    with pytest.raises(ItemFieldError, match="no field 'q'"):
        to_item("6", {"question": "x"}, named)
    with pytest.raises(ItemFieldError, match="entry_point"):
        to_item("7", {"prompt": "def f():", "test": "assert 1"}, FieldSettings("code_exec"))


def test_report_for_a_tune_and_for_a_prompt() -> None:
    scores = {"tune": {1: 1.0, 2: 1.0, 3: 1.0, 4: 0.0}, "base:plain": {1: 0.0, 2: 0.0, 3: 0.0,
              4: 1.0}, "base:system": {1: 1.0, 2: 0.0, 3: 0.0, 4: 0.0}}  # fmt: skip
    sets = [SetInput(7, "arith", "task", 0.5, None, scores)]
    settings = {"default_min_gain": 0.0, "max_capability_drop": None}
    report = build(settings, sets, model_kind="adapter")
    (summary,) = report["sets"]
    assert summary["tune"]["mean"] == 0.75 and summary["best_prompt"] == "plain"
    assert summary["gain"]["delta"] == 0.5 and summary["models"]["base:system"]["mean"] == 0.25
    assert [g["name"] for g in report["gates"]] == ["min_score", "min_gain"]
    assert report["gates"][0]["threshold"] == 0.5
    alone = build(settings, [SetInput(7, "arith", "task", 0.5, None, {"tune": scores["tune"]})],
                  model_kind="prompt")  # fmt: skip
    assert alone["verdict"] == "ship_prompt" and alone["passed"]
    assert build(settings, [], model_kind="adapter")["verdict"] == "not_ready"
    assert regression({"tune": 0.0, "base:plain": 1.0}, "plain")
    assert not regression({"tune": 1.0, "base:plain": 1.0}, "plain")
    assert not regression({"tune": 0.0}, None)
    assert set_slug("GSM8K (test)", 2) == "gsm8k-test-v2"
