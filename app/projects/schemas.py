from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

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


class ProjectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    name: str
    description: str
    guidelines: str
    system_prompt: str
    chat_template: str
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
