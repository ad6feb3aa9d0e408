from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models import ItemStatus, Source

ALTERNATIVE_MAX = 100_000


class PairOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    prompt: list[dict[str, Any]]
    chosen: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    source: Source
    generator: str | None
    status: ItemStatus
    split: str | None
    tags: list[str]
    rating: int | None
    content_hash: str
    version: int
    created_at: datetime
    updated_at: datetime


class PairUpdate(BaseModel):
    # Unknown fields are refused, not ignored: `status` changes only through labeling and review.
    model_config = ConfigDict(extra="forbid")
    version: int = Field(description="the version you edited; a newer one answers 409")
    prompt: list[dict[str, Any]] | None = None
    chosen: list[dict[str, Any]] | None = None
    rejected: list[dict[str, Any]] | None = None
    tags: list[str] | None = None
    rating: int | None = Field(default=None, ge=1, le=5)


class PairFromExample(BaseModel):
    """A pair made from an SFT example: its conversation up to the last assistant turn is the
    prompt; that turn and your alternative are the two responses."""

    alternative: str = Field(min_length=1, max_length=ALTERNATIVE_MAX)
    better: Literal["original", "alternative"]
