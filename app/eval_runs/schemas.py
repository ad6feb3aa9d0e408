"""What the evaluation API takes and gives."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SetRole = Literal["task", "format", "safety", "judge"]
ScorerName = Literal[
    "exact_match", "multiple_choice", "code_exec", "json_format", "refusal", "judge"
]
ModelKind = Literal["prompt", "adapter", "merged"]
BackendName = Literal["transformers", "endpoint"]
PromptName = Literal["plain", "system", "fewshot"]
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


class EvalSetSettingsIn(BaseModel):
    """How one eval set is scored and gated."""

    role: SetRole = "task"
    scorer: ScorerName = "exact_match"
    prompt_field: str = Field(default="", max_length=200, description="empty: guessed")
    reference_field: str = Field(default="", max_length=200, description="empty: guessed")
    category_field: str = Field(default="", max_length=200, description="tags eval gaps")
    pattern: str = Field(default="", max_length=500, description="exact_match answer regex")
    max_new_tokens: int = Field(default=256, ge=1, le=8192)
    min_score: float | None = Field(default=None, ge=0, le=1)
    min_gain: float | None = Field(default=None, ge=-1, le=1)
    json_schema: dict[str, Any] | None = None
    judge_refusals: bool = Field(
        default=False, description="refusal sets: the judge endpoint confirms each refusal"
    )

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _judge(self) -> EvalSetSettingsIn:
        if self.scorer == "judge":
            self.role = "judge"  # a pairwise judge set is gated by its win rate only
        elif self.role == "judge":
            raise ValueError("scorer: a set in the judge role is scored by the judge")
        if self.judge_refusals and self.scorer != "refusal":
            raise ValueError("judge_refusals: only a refusal set's refusals are confirmed")
        return self


def _http_url(value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("an http:// or https:// URL")
    return value


def _env_var(value: str) -> str:
    if value and not ENV_NAME.match(value):
        raise ValueError("the name of an environment variable (letters, digits, _), not a key")
    return value


class GatePolicyIn(BaseModel):
    """A project's gate policy; every field has a sensible default."""

    default_min_score: float = Field(default=0.0, ge=0, le=1)
    default_min_gain: float = Field(default=0.0, ge=-1, le=1)
    min_format_compliance: float = Field(default=1.0, ge=0, le=1)
    min_refusal_rate: float = Field(default=0.9, ge=0, le=1)
    max_capability_drop: float | None = Field(
        default=2.0, ge=0, le=100, description="points; null: no capability gate"
    )
    capability_task_dir: str = Field(default="", max_length=500)
    capability_tasks: list[str] = Field(default_factory=list, max_length=50)
    few_shot: int = Field(default=3, ge=0, le=16, description="shots in the few-shot prompt")
    judge_url: str = Field(default="", max_length=500, description="OpenAI-compatible; empty: none")
    judge_model: str = Field(default="", max_length=200, description="the judge model's name")
    judge_api_key_env: str = Field(
        default="", max_length=100, description="environment variable holding the judge's key"
    )
    min_judge_win_rate: float = Field(
        default=0.5, ge=0, le=1, description="tune over base, ties count half"
    )

    @field_validator("judge_url")
    @classmethod
    def _judge_url(cls, value: str) -> str:
        return _http_url(value.strip())

    @field_validator("judge_api_key_env")
    @classmethod
    def _judge_key(cls, value: str) -> str:
        return _env_var(value.strip())

    @model_validator(mode="after")
    def _judge_complete(self) -> GatePolicyIn:
        if bool(self.judge_url) != bool(self.judge_model.strip()):
            field = "judge_model" if self.judge_url else "judge_url"
            raise ValueError(f"{field}: a judge needs both its URL and its model name")
        return self


class GatePolicyUpdate(GatePolicyIn):
    sets: dict[int, EvalSetSettingsIn] = Field(
        default_factory=dict, description="eval set id -> its settings"
    )


class GatePolicyOut(GatePolicyIn):
    sets: dict[int, EvalSetSettingsIn] = Field(default_factory=dict)


class EvaluationCreate(BaseModel):
    """A model under test. ``adapter`` and ``merged`` take a succeeded training run's adapter;
    an endpoint run names the variable holding the API key, never the key."""

    model_kind: ModelKind = "prompt"
    base_model: str = Field(default="", max_length=500, description="local model directory")
    training_run_id: int | None = None
    prompt_variant: PromptName = "system"
    eval_set_ids: list[int] = Field(default_factory=list, max_length=50)
    backend: BackendName = "transformers"
    endpoint_url: str | None = Field(default=None, max_length=500)
    endpoint_model: str | None = Field(default=None, max_length=200)
    endpoint_base_model: str | None = Field(default=None, max_length=200)
    api_key_env: str | None = Field(default=None, max_length=100)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value and not ENV_NAME.match(value):
            raise ValueError("the name of an environment variable (letters, digits, _)")
        return value or None

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("an http:// or https:// URL")
        return value or None

    @model_validator(mode="after")
    def _complete(self) -> EvaluationCreate:
        if self.backend == "endpoint" and not (self.endpoint_url and self.endpoint_model):
            raise ValueError("an endpoint run needs endpoint_url and endpoint_model")
        if self.backend == "transformers" and not self.base_model and self.training_run_id is None:
            raise ValueError("base_model: the local model directory to load")
        if (
            self.model_kind != "prompt"
            and self.training_run_id is None
            and (self.backend == "transformers")
        ):
            raise ValueError(f"training_run_id: a {self.model_kind} model comes from a run")
        return self


class EvaluationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    training_run_id: int | None
    snapshot_id: int | None
    model_kind: str
    base_model: str
    prompt_variant: str
    backend: str
    endpoint_url: str | None
    endpoint_model: str | None
    api_key_env: str | None
    eval_set_ids: list[int]
    state: str
    done: int
    total: int
    verdict: str | None
    passed: bool | None
    report: dict[str, Any] | None
    error: str | None
    job_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EvaluationItemOut(BaseModel):
    """One eval item: the prompt and reference, and each model's output and score."""

    eval_item_id: int
    eval_set_id: int
    position: int
    category: str | None
    prompt: str
    reference: str
    outputs: dict[str, dict[str, Any]]
    regression: bool


class EvaluationItemPage(BaseModel):
    items: list[EvaluationItemOut]
    total: int
    next_offset: int | None


class GapExampleIn(BaseModel):
    """A new training example written for an eval gap (never the eval item's text)."""

    prompt: str = Field(min_length=1, max_length=20_000)
    response: str = Field(default="", max_length=20_000)
