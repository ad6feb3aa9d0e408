from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from app.models import ItemStatus, Source


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
