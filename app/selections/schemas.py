from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SelectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    examples: list[int] = Field(default_factory=list, max_length=1_000_000)
    pairs: list[int] = Field(default_factory=list, max_length=1_000_000)


class SelectionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    description: str
    origin: str
    params: dict[str, Any]
    item_count: int
    created_at: datetime


class SelectionItems(SelectionOut):
    examples: list[int]
    pairs: list[int]
