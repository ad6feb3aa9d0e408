from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.models import Role

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
CHAT_TEMPLATES = ("chatml", "llama3", "mistral", "gemma", "phi3")


class ProjectCreate(BaseModel):
    slug: str = Field(pattern=SLUG_PATTERN, description="lowercase letters, digits and dashes")
    name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=10_000)
    guidelines: str = Field(default="", max_length=200_000)
    system_prompt: str = Field(default="", max_length=50_000)
    chat_template: str = Field(default="chatml", max_length=64)
    min_submissions: int = Field(
        default=1, ge=1, le=10, description="labels each item needs from different annotators"
    )
    approvals_required: int = Field(
        default=1, ge=1, le=10, description="reviewer approvals that make an item approved"
    )
    annotators_edit_prompts: bool = Field(
        default=False, description="annotators may edit system and user turns, not only replies"
    )
    label_tags: list[str] = Field(
        default_factory=list, max_length=100, description="tags annotators can set"
    )

    @field_validator("label_tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        return clean_tags(tags)


def clean_tags(tags: list[str]) -> list[str]:
    """Trimmed, non-empty, unique, in the given order; each at most 100 characters."""
    seen: list[str] = []
    for tag in tags:
        tag = tag.strip()
        if len(tag) > 100:
            raise ValueError(f"tag '{tag[:20]}...' is longer than 100 characters")
        if tag and tag not in seen:
            seen.append(tag)
    return seen


class ProjectUpdate(BaseModel):
    """Fields to change; the rest stay as they are."""

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    guidelines: str | None = Field(default=None, max_length=200_000)
    system_prompt: str | None = Field(default=None, max_length=50_000)
    chat_template: str | None = Field(default=None, max_length=64)
    min_submissions: int | None = Field(default=None, ge=1, le=10)
    approvals_required: int | None = Field(default=None, ge=1, le=10)
    annotators_edit_prompts: bool | None = None
    label_tags: list[str] | None = Field(default=None, max_length=100)

    @field_validator("label_tags")
    @classmethod
    def _clean_tags(cls, tags: list[str] | None) -> list[str] | None:
        return None if tags is None else clean_tags(tags)


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    name: str
    description: str
    guidelines: str
    system_prompt: str
    chat_template: str
    min_submissions: int
    approvals_required: int
    annotators_edit_prompts: bool
    label_tags: list[str]
    created_at: datetime


class MemberSet(BaseModel):
    email: str
    role: Role


class Stats(BaseModel):
    project: str
    examples: dict[str, dict[str, int]] = Field(
        description="counts by status and by source, plus needs_response"
    )
    pairs: dict[str, dict[str, int]]
