from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.examples.schemas import ExampleOut
from app.models import ItemKind, LabelState, Preference
from app.pairs.schemas import PairOut

NOTE_MAX = 10_000
DRAFT_MAX_CHARS = 2_000_000  # a long conversation's worth; drafts are not a file store
TAGS_MAX = 50
Side = Literal["chosen", "rejected"]
KindSlug = Literal["examples", "pairs"]
KINDS = {"examples": ItemKind.example, "pairs": ItemKind.pair}


class LabelOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    item_kind: str
    item_id: int
    user_id: int
    state: LabelState
    rating: int | None
    tags: list[str]
    note: str
    preference: Preference | None = Field(
        description="pairs: in terms of the stored sides (chosen, rejected) or tie"
    )
    draft: dict[str, Any] | None
    item_version: int | None
    started_at: datetime | None
    submitted_at: datetime | None
    seconds: float | None
    updated_at: datetime

    @field_validator("draft")
    @classmethod
    def _no_undo_record(cls, draft: dict[str, Any] | None) -> dict[str, Any] | None:
        """A finished label keeps what undoing it restores in its draft: not the caller's."""
        if draft is None:
            return None
        kept = {k: v for k, v in draft.items() if k != "undo"}
        return kept or None


class NextOut(BaseModel):
    item: ExampleOut | PairOut
    label: LabelOut
    lease_expires_at: datetime | None = Field(
        description="until when the item is reserved for you; null for an item sent back"
    )
    returned_comment: str | None = Field(description="the reviewer's comment when sent back")
    order: list[Side] | None = Field(
        default=None,
        description="pairs: which stored side to show as A and as B (stable per annotator)",
    )


class DraftIn(BaseModel):
    version: int = Field(description="the item version the draft was made against")
    draft: dict[str, Any] | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    tags: list[str] | None = Field(default=None, max_length=TAGS_MAX)
    note: str | None = Field(default=None, max_length=NOTE_MAX)
    preference: Preference | None = None

    @field_validator("draft")
    @classmethod
    def _bounded(cls, draft: dict[str, Any] | None) -> dict[str, Any] | None:
        if draft is not None and len(json.dumps(draft)) > DRAFT_MAX_CHARS:
            raise ValueError(f"a draft holds at most {DRAFT_MAX_CHARS:,} characters")
        return draft


class SubmitIn(BaseModel):
    version: int = Field(description="the item version you worked on; edits to a newer one 409")
    messages: list[dict[str, Any]] | None = Field(
        default=None, description="examples: the edited conversation; null keeps it unchanged"
    )
    rating: int | None = Field(default=None, ge=1, le=5)
    tags: list[str] = Field(default_factory=list, max_length=TAGS_MAX)
    note: str = Field(default="", max_length=NOTE_MAX)
    preference: Preference | None = Field(default=None, description="pairs: required")


class DiscardIn(BaseModel):
    note: str = Field(default="", max_length=NOTE_MAX)


class SubmitOut(BaseModel):
    label: LabelOut
    item: ExampleOut | PairOut
