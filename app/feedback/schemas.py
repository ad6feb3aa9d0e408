"""What the feedback API and pages read and return."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from app.formats.feedback import FIELDS


class FieldNames(BaseModel):
    """Which field of the file holds each feedback field (blank: the default name)."""

    prompt: str | None = Field(default=None, max_length=200)
    messages: str | None = Field(default=None, max_length=200)
    response: str | None = Field(default=None, max_length=200)
    rating: str | None = Field(default=None, max_length=200)
    responses: str | None = Field(default=None, max_length=200)
    choice: str | None = Field(default=None, max_length=200)
    id: str | None = Field(default=None, max_length=200, description="the app's log id")

    @field_validator(*FIELDS)
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    def renames(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v and v != k}


class FeedbackImportOptions(BaseModel):
    fields: FieldNames = Field(default_factory=FieldNames)
    skip_invalid: bool = False


class PairOptions(BaseModel):
    mode: Literal["all", "best_worst"] = Field(
        default="all",
        description="all: every up x down combination (capped); best_worst: one pair per prompt",
    )
    max_per_prompt: int = Field(default=10, ge=1, le=1000)
    with_context: bool = Field(
        default=False,
        description="match prompts on the whole conversation, not only the last user turn",
    )


class RowProblem(BaseModel):
    unit: str
    number: int
    field: str
    error: str


class FeedbackImportSummary(BaseModel):
    file: str
    rows: int
    responses: int
    """Rated responses read (a choice row gives one per response)."""
    imported: int
    duplicates_skipped: int
    invalid: int
    up: int
    down: int
    neutral: int
    errors: list[RowProblem] = Field(default_factory=list)
    errors_truncated: bool = False
    rejects_file: str | None = None
    seconds: float = 0.0


class PairSummary(BaseModel):
    prompts: int
    pairable_prompts: int
    pairs_created: int
    pairs_existing: int
    capped: int
    conflicting_responses: int
    unpaired_entries: int


class FeedbackStats(BaseModel):
    entries: int
    up: int
    down: int
    neutral: int
    up_share: float | None
    down_share: float | None
    prompts: int
    pairable_prompts: int
    pairs: int
    pairs_by_status: dict[str, int]
    paired_entries: int
    unpaired_entries: int


class PairEntry(BaseModel):
    entry_id: int
    log_id: str | None
    file: str
    line: int
    rating: str
    chosen: bool


class PairProvenance(BaseModel):
    pair_id: int
    entries: list[PairEntry]
