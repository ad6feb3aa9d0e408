from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.errors import Invalid
from app.models import EvalSet

NAME_MAX = 200
FIELD_MAX = 200


def split_fields(values: Iterable[str] | str | None) -> list[str]:
    """Field names from repeated values and/or comma-separated text, blanks dropped, in order,
    each once: ``["prompt, canonical_solution"]`` and ``["prompt", "canonical_solution"]`` agree."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    names = (name.strip() for value in values for name in value.split(","))
    return list(dict.fromkeys(name for name in names if name))


def header_choice(value: str | None) -> bool | None:
    """A CSV header choice from a form or query value: None detects it."""
    choice = (value or "").strip().lower()
    if choice in ("", "auto"):
        return None
    if choice in ("true", "yes", "1", "on"):
        return True
    if choice in ("false", "no", "0", "off"):
        return False
    raise Invalid(f"header: use auto, true or false, not {value!r}")


class EvalSetCreate(BaseModel):
    """What an upload names: the set, the text fields (empty: every string field), and whether
    a CSV's first row is a header (None: detected)."""

    name: str = Field(min_length=1, max_length=NAME_MAX)
    text_fields: list[str] = Field(default_factory=list, max_length=100)
    header: bool | None = None

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("give the eval set a name")
        return value

    @field_validator("text_fields")
    @classmethod
    def _check_fields(cls, value: list[str]) -> list[str]:
        fields = split_fields(value)
        if any(len(name) > FIELD_MAX for name in fields):
            raise ValueError(f"field names are at most {FIELD_MAX} characters")
        return fields


class EvalSetUpdate(BaseModel):
    """Rename an unfrozen set or change its text fields (item texts are re-derived)."""

    name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    text_fields: list[str] | None = Field(
        default=None, max_length=100, description="empty list: every string field"
    )


class EvalSetOut(BaseModel):
    id: int
    name: str
    version: int
    text_fields: list[str] = Field(description="the fields compared; empty: every string field")
    frozen: bool
    frozen_at: datetime | None
    content_hash: str | None = Field(description="set when frozen; see the freeze docs")
    item_count: int
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, eval_set: EvalSet, item_count: int, **extra: Any) -> Self:
        return cls(
            id=eval_set.id,
            name=eval_set.name,
            version=eval_set.version,
            text_fields=list(eval_set.text_fields),
            frozen=eval_set.frozen_at is not None,
            frozen_at=eval_set.frozen_at,
            content_hash=eval_set.content_hash,
            item_count=item_count,
            created_by_id=eval_set.created_by_id,
            created_at=eval_set.created_at,
            updated_at=eval_set.updated_at,
            **extra,
        )


class FreezeOut(EvalSetOut):
    job_id: int = Field(description="the eval_index job precomputing contamination signatures")


class EvalItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    position: int
    text: str
    original: dict[str, Any]
    content_hash: str


class ItemPage(BaseModel):
    items: list[EvalItemOut]
    total: int
    next_start: int | None = Field(description="pass as `start` for the next page")
