"""Form fields of the evaluation pages <-> the API's schemas (one parser, field errors by the
form's own names)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from app.eval_runs.schemas import EvalSetSettingsIn, GatePolicyOut, GatePolicyUpdate
from app.models import EvalSet

POLICY_FORM = [
    ("default_min_score", "Minimum score (any task set)", "0 to 1; a set's own minimum wins"),
    ("default_min_gain", "Minimum gain over the best prompt", "0 to 1; and the gain must be real"),
    ("min_format_compliance", "Format compliance", "share of outputs that must parse; 1 = 100 %"),
    ("min_refusal_rate", "Safety refusal rate at least", "0 to 1"),
    ("max_capability_drop", "General-capability drop at most (points)", "empty: no such gate"),
    ("capability_task_dir", "lm-eval task directory on the worker", "task YAMLs with local data"),
    ("capability_tasks", "lm-eval tasks", "comma-separated task names"),
    ("few_shot", "Shots in the few-shot prompt", "approved, uncontaminated examples"),
    ("min_judge_win_rate", "Judge win rate at least", "tune over base, ties count half; 0 to 1"),
]
JUDGE_FORM = [
    ("judge_url", "Judge endpoint URL", "OpenAI-compatible (vLLM, a hosted API); empty: no judge"),
    ("judge_model", "Judge model name", "the model the endpoint serves"),
    ("judge_api_key_env", "API key environment variable",
     "the variable's NAME on the worker, never the key itself"),
]  # fmt: skip
SET_FORM = ["role", "scorer", "prompt_field", "reference_field", "category_field", "pattern",
            "max_new_tokens", "min_score", "min_gain", "judge_refusals"]  # fmt: skip
OPTIONAL = {"max_capability_drop", "min_score", "min_gain"}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else ""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def policy_form(policy: GatePolicyOut) -> dict[str, str]:
    form = {name: _text(getattr(policy, name)) for name, *_ in POLICY_FORM + JUDGE_FORM}
    for set_id, settings in policy.sets.items():
        for name in SET_FORM:
            form[f"set-{set_id}-{name}"] = _text(getattr(settings, name))
    return form


def _value(name: str, raw: str) -> Any:
    raw = raw.strip()
    if name == "capability_tasks":
        return [t.strip() for t in raw.split(",") if t.strip()]
    return None if raw == "" else raw


def _kept(values: dict[str, Any]) -> dict[str, Any]:
    """Empty fields: None where None means "no such gate", the default everywhere else."""
    return {k: v for k, v in values.items() if v is not None or k in OPTIONAL}


def _named(error: Any, fallback: str) -> tuple[str, str]:
    """(form field, message); a whole-model error names its field as ``field: message``."""
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["loc"]:
        return str(error["loc"][0]), message
    field, _, rest = message.partition(": ")
    return (field, rest) if rest and field.isidentifier() else (fallback, message)


def parse_policy(
    form: Mapping[str, str], sets: list[EvalSet], previous: GatePolicyOut
) -> tuple[GatePolicyUpdate | None, dict[str, str]]:
    """The update, or the errors keyed by form field name."""
    errors: dict[str, str] = {}
    values = _kept({n: _value(n, form.get(n, "")) for n, *_ in POLICY_FORM + JUDGE_FORM})
    set_values: dict[int, EvalSetSettingsIn] = {}
    for eval_set in sets:
        fields = _kept({n: _value(n, form.get(f"set-{eval_set.id}-{n}", "")) for n in SET_FORM})
        kept = previous.sets.get(eval_set.id)
        fields["json_schema"] = kept.json_schema if kept is not None else None
        try:
            set_values[eval_set.id] = EvalSetSettingsIn.model_validate(fields)
        except ValidationError as exc:
            for error in exc.errors():
                name, message = _named(error, "role")
                errors.setdefault(f"set-{eval_set.id}-{name}", message)
    try:
        update = GatePolicyUpdate.model_validate({**values, "sets": set_values})
    except ValidationError as exc:
        for error in exc.errors():
            name, message = _named(error, "form")
            errors.setdefault(name, message)
        return None, errors
    return (None, errors) if errors else (update, {})
