from __future__ import annotations

from pydantic import BaseModel, Field

from app.models import ItemStatus, Source


class ImportOptions(BaseModel):
    format: str | None = Field(default=None, description="record shape; detected when omitted")
    source: Source = Source.imported
    generator: str | None = Field(default=None, max_length=200)
    skip_invalid: bool = False
    status: ItemStatus = Field(
        default=ItemStatus.submitted,
        description=(
            "status of complete imported rows: draft (pending: sent to the labeling queue), "
            "submitted (waiting for review) or approved; rows that need a response are drafts"
        ),
    )


class RowProblem(BaseModel):
    unit: str
    number: int
    field: str
    error: str


class ImportSummary(BaseModel):
    file: str
    format: str | None
    rows: int
    examples: int
    pairs: int
    needs_response: int
    duplicates_skipped: int
    invalid: int
    errors: list[RowProblem] = Field(default_factory=list)
    errors_truncated: bool = False
    rejects_file: str | None = None
    seconds: float = 0.0
