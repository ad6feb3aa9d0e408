from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.models import Source


class CustomTemplate(BaseModel):
    """A chat template of your own (e.g. a model's tokenizer_config.json chat_template)."""

    name: str = Field(default="custom", min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=200_000, description="the Jinja template")
    bos_token: str = Field(default="", max_length=100)
    eos_token: str = Field(default="", max_length=100)


class ExportCreate(BaseModel):
    format: str = Field(description="messages, trl_preference, openai_preference, axolotl, "
                        "llamafactory, sharegpt, alpaca, text or kto (rated feedback)")  # fmt: skip
    template: str | None = Field(
        default=None, max_length=64, description="chat template for `text` (default: project's)"
    )
    custom_template: CustomTemplate | None = Field(
        default=None, description="for `text`: render with this template instead of a built-in"
    )
    status: Literal["approved", "all"] = "approved"
    tags: list[str] = Field(default_factory=list, description="items carrying all these tags")
    source: Source | None = None
    min_rating: int | None = Field(default=None, ge=1, le=5)
    selection_id: int | None = Field(
        default=None, description="only items of this saved selection (e.g. a diverse subset)"
    )
    exclude_flagged: bool = Field(
        default=True, description="leave out items with open contamination flags"
    )
    validation_fraction: float = Field(default=0.0, ge=0.0, le=0.5)
    seed: str = Field(default="trellis", max_length=100)
    sequence_len: int = Field(default=4096, ge=16, le=1_000_000)
    base_model: str = Field(default="meta-llama/Llama-3.1-8B-Instruct", max_length=200)
    dry_run: bool = Field(
        default=False, description="only compute the quality gates; write no files"
    )
    bos_in_text: bool = Field(
        default=False,
        description="`text`: keep the template's BOS at the start of each row. Off by default: "
        "TRL and most trainers tokenize text with special tokens, which adds the BOS again",
    )
    container: Literal["jsonl", "parquet", "datasets"] = Field(
        default="jsonl", description="also write Parquet or a datasets save_to_disk folder (tar)"
    )


class SnapshotOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    state: str = Field(description="pending, ready, blocked, checked (dry run) or failed")
    error: str | None = Field(default=None, description="why a failed export failed")
    format: str
    params: dict[str, Any]
    gates: list[dict[str, Any]] | None
    manifest: dict[str, Any] | None
    job_id: int | None
    created_at: datetime
