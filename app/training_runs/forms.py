"""A run request from flat fields (an HTML form, query parameters, CLI options).

Fields of the request itself (export_id, method, base_model, preset, backend, init_run_id, the
resources) go where `TrainingCreate` has them; every other non-empty field is a `RunConfig`
field over the preset's defaults. Errors come back as {field: message} for the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from app.errors import Invalid
from app.training.config import RunConfig
from app.training_runs.schemas import ResourcesIn, TrainingCreate

REQUEST_FIELDS = ("export_id", "method", "base_model", "preset", "backend", "init_run_id")
RESOURCE_FIELDS = tuple(ResourcesIn.model_fields)
#: RunConfig fields a form may set (the request fields above and num_gpus are set elsewhere).
CONFIG_FIELDS = tuple(
    name
    for name in RunConfig.model_fields
    if name not in ("method", "base_model", "preset", "num_gpus", "init_adapter")
)
LIST_FIELDS = ("lora_targets",)


def _errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if prefix and loc and loc[0] == prefix:
            loc = loc[1:]
        field = loc[0] if loc else "form"
        errors.setdefault(field, str(error["msg"]).removeprefix("Value error, "))
    return errors


def parse(fields: Mapping[str, str]) -> TrainingCreate:
    """The request the fields describe; raises Invalid with details={"fields": {...}}."""
    values = {k: v.strip() for k, v in fields.items() if isinstance(v, str) and v.strip() != ""}
    request: dict[str, Any] = {k: values[k] for k in REQUEST_FIELDS if k in values}
    request["resources"] = {k: values[k] for k in RESOURCE_FIELDS if k in values}
    config: dict[str, Any] = {}
    for name in CONFIG_FIELDS:
        if name in values:
            value: Any = values[name]
            if name in LIST_FIELDS:
                value = [part.strip() for part in value.replace("\n", ",").split(",")]
            config[name] = value
    request["config"] = config
    try:
        return TrainingCreate.model_validate(request)
    except ValidationError as exc:
        errors = _errors(exc)
        if "resources" in errors:
            errors.update(_errors(exc, "resources"))
            errors.pop("resources", None)
            errors = {
                k: v for k, v in errors.items() if k in RESOURCE_FIELDS or k in REQUEST_FIELDS
            } or errors
        raise Invalid(
            "; ".join(f"{k}: {v}" for k, v in errors.items()), details={"fields": errors}
        ) from exc
