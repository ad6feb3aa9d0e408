"""Stored eval items as the runner's items: which field is the prompt, which the reference, and
what a scorer needs besides (options, tests). Pure: a record in, an ``EvalItem`` out.

Fields left empty in a set's settings are guessed from the record's shape: ``messages``
(the last user turn / the last assistant turn), HumanEval (``prompt``, ``canonical_solution``,
``test``, ``entry_point``), a header-less MMLU CSV (``column_1`` question, ``column_2..5``
options, ``column_6`` the letter), HH-RLHF transcripts (the first ``Human:`` turn), or the usual
names (``question``/``prompt``/``instruction``, ``answer``/``reference``/``output``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.evaluation.runner import EvalItem
from app.evaluation.scorers.multiple_choice import LETTERS, ChoiceQuestion, format_question

PROMPT_NAMES = ("prompt", "question", "instruction", "input", "problem", "query", "text")
REFERENCE_NAMES = ("answer", "reference", "target", "output", "solution", "canonical_solution")
CATEGORY_NAMES = ("category", "subject", "topic", "type")
_HUMAN = re.compile(r"Human:\s*(.*?)(?:\n\nAssistant:|$)", re.DOTALL)


class ItemFieldError(ValueError):
    """A record lacks what its set's settings (or the guess) need."""


@dataclass(frozen=True)
class FieldSettings:
    scorer: str
    prompt_field: str = ""
    reference_field: str = ""
    category_field: str = ""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _messages(record: Mapping[str, Any]) -> tuple[str, str] | None:
    turns = record.get("messages")
    if not isinstance(turns, list):
        return None
    users = [t for t in turns if isinstance(t, dict) and t.get("role") == "user"]
    answers = [t for t in turns if isinstance(t, dict) and t.get("role") == "assistant"]
    if not users:
        return None
    return _text(users[-1].get("content")), _text(answers[-1].get("content") if answers else "")


def _first(record: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for name in names:
        if name in record and record[name] not in (None, ""):
            return name
    return None


def _choice(record: Mapping[str, Any]) -> ChoiceQuestion | None:
    if "column_6" in record and "column_1" in record:
        options = tuple(_text(record[f"column_{i}"]) for i in range(2, 6))
        return ChoiceQuestion(_text(record["column_1"]), options, _text(record["column_6"]))
    options_value = record.get("options", record.get("choices"))
    if isinstance(options_value, list) and "question" in record:
        answer: Any = record.get("answer", "")
        if isinstance(answer, int) and 0 <= answer < len(options_value):
            answer = LETTERS[answer]
        options = tuple(_text(o) for o in options_value)
        return ChoiceQuestion(_text(record["question"]), options, _text(answer).strip())
    return None


def category_of(record: Mapping[str, Any], settings: FieldSettings) -> str:
    name = settings.category_field or _first(record, CATEGORY_NAMES)
    value = _text(record.get(name)) if name else ""
    return value.strip()[:80] or "general"


def to_item(item_id: str, record: Mapping[str, Any], settings: FieldSettings) -> EvalItem:
    """The runner's item for one stored record; ``ItemFieldError`` names the missing field."""
    meta: dict[str, Any] = {}
    if settings.scorer == "multiple_choice" and not settings.prompt_field:
        question = _choice(record)
        if question is None:
            raise ItemFieldError("multiple_choice needs question, options and answer fields")
        meta = {"question": question.question, "options": list(question.options)}
        return EvalItem(item_id, format_question(question), question.answer, meta)
    if settings.scorer == "code_exec":
        for name in ("test", "entry_point"):
            if not record.get(name):
                raise ItemFieldError(f"code_exec needs the field '{name}'")
        meta = {"test": _text(record["test"]), "entry_point": _text(record["entry_point"])}
    prompt, reference = _prompt_and_reference(record, settings)
    return EvalItem(item_id, prompt, reference, meta)


def _prompt_and_reference(record: Mapping[str, Any], settings: FieldSettings) -> tuple[str, str]:
    chat = _messages(record)
    if settings.prompt_field:
        if settings.prompt_field not in record:
            raise ItemFieldError(f"no field '{settings.prompt_field}' in the record")
        prompt = _text(record[settings.prompt_field])
    elif chat is not None:
        prompt = chat[0]
    elif isinstance(record.get("chosen"), str) and _HUMAN.search(record["chosen"]):
        prompt = _HUMAN.search(record["chosen"]).group(1).strip()  # type: ignore[union-attr]
    else:
        name = _first(record, PROMPT_NAMES)
        if name is None:
            raise ItemFieldError(f"no prompt field found (tried {', '.join(PROMPT_NAMES)})")
        prompt = _text(record[name])
    if settings.reference_field:
        if settings.reference_field not in record:
            raise ItemFieldError(f"no field '{settings.reference_field}' in the record")
        reference = _text(record[settings.reference_field])
    elif chat is not None:
        reference = chat[1]
    else:
        name = _first(record, REFERENCE_NAMES)
        reference = _text(record[name]) if name else ""
    return prompt, reference
