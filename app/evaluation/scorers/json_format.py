"""Format compliance: the output parses as JSON and, when a schema is given, validates against it.

A single fenced block (```json ... ```) around the whole output is accepted, since chat models
often wrap JSON that way; any other text around the JSON is a failure.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from app.evaluation.scorers.base import ItemScore

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def score_json_format(output: str, schema: dict[str, Any] | None = None) -> ItemScore:
    fenced = _FENCE.match(output)
    text = fenced.group(1) if fenced else output
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        return ItemScore(0.0, None, {"reason": f"not JSON: {error.msg} at {error.pos}"})
    if schema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(value), key=lambda error: list(error.path))
        if errors:
            first = errors[0]
            where = "/".join(str(part) for part in first.path) or "(root)"
            return ItemScore(0.0, None, {"reason": f"schema: {where}: {first.message}"})
    return ItemScore(1.0, None, {})


def failure_count(scores: list[ItemScore]) -> int:
    return sum(1 for score in scores if not score.passed)
