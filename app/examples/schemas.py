from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from app.models import ItemStatus, Source

SortKey = Literal["newest", "oldest", "updated"]
T = TypeVar("T")


class ListFilter(BaseModel):
    status: ItemStatus | None = None
    source: Source | None = None
    tag: str | None = Field(default=None, max_length=100)
    q: str | None = Field(default=None, max_length=500)
    sort: SortKey = "newest"
    after: str | None = Field(default=None, max_length=100, description="cursor from next_cursor")
    limit: int = Field(default=50, ge=1, le=500)


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


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="matching items; with a text search, at most 10,001")
    total_is_lower_bound: bool = Field(default=False, description="true when total was capped")
    next_cursor: str | None
