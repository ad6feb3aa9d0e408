from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.models import ItemStatus, Source


class ExampleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    source: Source
    generator: str | None
    status: ItemStatus
    split: str | None
    tags: list[str]
    rating: int | None
    needs_response: bool
    content_hash: str
    version: int
    created_at: datetime
    updated_at: datetime


class ExampleUpdate(BaseModel):
    # Unknown fields are refused, not ignored: `status` changes only through labeling and review.
    model_config = ConfigDict(extra="forbid")
    version: int = Field(description="the version you edited; a newer one answers 409")
    messages: list[dict[str, Any]] | None = None
    tags: list[str] | None = None
    rating: int | None = Field(default=None, ge=1, le=5, description="reviewers and above")
    split: str | None = Field(default=None, max_length=32, description="engineers and above")
