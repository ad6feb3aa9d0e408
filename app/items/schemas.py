"""What a list of examples or pairs can be filtered and sorted by."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

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


class RevertIn(BaseModel):
    revision_id: int
    version: int = Field(description="the version you are looking at; a newer one answers 409")
    before: bool = Field(
        default=False, description="restore the state right before the revision instead of after"
    )


class SwapIn(BaseModel):
    version: int


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description="matching items; with a text search, at most 10,001")
    total_is_lower_bound: bool = Field(default=False, description="true when total was capped")
    next_cursor: str | None
