"""What the synthetic-generation API takes and gives."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.synthetic.templates import Method, TemplateName

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class SettingsIn(BaseModel):
    """The project's endpoint. The key is never sent here: name the environment variable the
    workers read it from."""

    base_url: str = Field(min_length=1, max_length=500, description="e.g. http://host:8000/v1")
    model: str = Field(min_length=1, max_length=200)
    api_key_env: str | None = Field(
        default=None, max_length=100, description="name of the environment variable holding the key"
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=32768)
    concurrency: int = Field(default=4, ge=1, le=64)
    max_requests: int = Field(default=200, ge=1, le=100_000, description="request budget per run")
    timeout_s: float = Field(default=120.0, gt=0, le=3600)

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _ENV_NAME.match(value.strip()):
            raise ValueError("api_key_env is the NAME of an environment variable, e.g. OPENAI_KEY")
        return value.strip()


class SettingsOut(SettingsIn):
    key_set: bool = Field(description="whether the named variable is set in this web process")


class TemplateIn(BaseModel):
    name: TemplateName
    text: str = Field(min_length=1, max_length=20_000)


class TemplateOut(BaseModel):
    name: TemplateName
    version: int
    text: str
    builtin: bool


class GenerateIn(BaseModel):
    method: Method
    count: int = Field(default=20, ge=1, le=5000, description="Self-Instruct: new tasks wanted")
    status: Literal["draft", "submitted"] = Field(
        default="draft", description="what the generated items enter as (never approved)"
    )
    seed_tasks: list[str] = Field(
        default_factory=list, max_length=500, description="Self-Instruct: extra seed tasks"
    )
    example_ids: list[int] = Field(
        default_factory=list,
        max_length=5000,
        description="Evol-Instruct: the examples to evolve; responses: the drafts to complete; "
        "pair candidates: the examples whose prompts are sampled (empty: approved examples / "
        "every draft that needs a response / approved examples)",
    )
    with_responses: bool = Field(default=True, description="Self-Instruct: also answer the tasks")
    per_request: int = Field(default=8, ge=1, le=20, description="Self-Instruct: tasks per request")
    breadth_share: float = Field(default=0.25, ge=0, le=1, description="Evol: in-breadth share")
    seed: int = Field(
        default=0, description="random seed for sampling seed tasks, evolutions and pair sides"
    )
    temperature_a: float = Field(
        default=0.3, ge=0, le=2, description="pair candidates: one sample's temperature"
    )
    temperature_b: float = Field(
        default=1.0, ge=0, le=2, description="pair candidates: the other sample's temperature"
    )

    @field_validator("seed_tasks")
    @classmethod
    def _tasks(cls, value: list[str]) -> list[str]:
        for n, task in enumerate(value, 1):
            if len(task) > 4000:
                raise ValueError(f"seed task {n} is longer than 4000 characters")
        return [t.strip() for t in value if t.strip()]

    @field_validator("temperature_b")
    @classmethod
    def _distinct(cls, value: float, info: ValidationInfo) -> float:
        """Two samples at one temperature are not what a reviewer is asked to pick between."""
        if info.data.get("method") is Method.pair_candidates and value == info.data.get(
            "temperature_a"
        ):
            raise ValueError("pair candidates need two different temperatures")
        return value


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    job_id: int | None
    method: str
    state: str
    params: dict[str, Any]
    counts: dict[str, Any]
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ProvenanceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    example_id: int | None = Field(description="the generated example (null for a pair)")
    pair_id: int | None = Field(default=None, description="the generated pair candidate")
    run_id: int | None
    method: str
    model: str
    templates: dict[str, Any]
    seed_ids: list[int]
    parent_id: int | None
    parameters: dict[str, Any]
    created_at: datetime
