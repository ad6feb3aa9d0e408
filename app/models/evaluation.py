"""Evaluation runs: a project's gate policy, each eval set's scorer settings, the runs (a model
under test scored beside the base model's prompt variants) and every item's output and score.

API keys are never stored: an endpoint run keeps only the *name* of the environment variable
that holds the key on the worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, TimestampMixin

EVAL_RUN_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
EVAL_FINISHED = ("succeeded", "failed", "cancelled")
SET_ROLES = ("task", "format", "safety", "judge")
MODEL_KINDS = ("prompt", "adapter", "merged")


class EvalGatePolicy(TimestampMixin, Base):
    """The thresholds a project ships by (one row per project; absent means the defaults)."""

    __tablename__ = "eval_gate_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    default_min_score: Mapped[float] = mapped_column(Float, default=0.0)
    default_min_gain: Mapped[float] = mapped_column(Float, default=0.0)
    min_format_compliance: Mapped[float] = mapped_column(Float, default=1.0)
    min_refusal_rate: Mapped[float] = mapped_column(Float, default=0.9)
    #: Points of general-capability accuracy the tune may lose; None: no capability gate.
    max_capability_drop: Mapped[float | None] = mapped_column(Float, default=2.0)
    #: Local lm-eval task files (a directory of task YAMLs) and the task names to run.
    capability_task_dir: Mapped[str] = mapped_column(String(500), default="")
    capability_tasks: Mapped[list[str]] = mapped_column(JSONType, default=list)
    few_shot: Mapped[int] = mapped_column(Integer, default=3)
    #: The judge endpoint (OpenAI-compatible) for judge sets and refusal confirmation: its URL,
    #: the judge model's name and the *name* of the environment variable holding its API key on
    #: the worker (never the key). Empty URL: no judge.
    judge_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    judge_model: Mapped[str] = mapped_column(String(200), default="", server_default="")
    judge_api_key_env: Mapped[str] = mapped_column(String(100), default="", server_default="")
    #: The judge gate: the tune's win rate over the base model (ties count half) at least this.
    min_judge_win_rate: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5")
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class EvalSetSetting(TimestampMixin, Base):
    """How one eval set is scored: its role in the gates, the scorer and the item fields."""

    __tablename__ = "eval_set_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    eval_set_id: Mapped[int] = mapped_column(
        ForeignKey("eval_sets.id", ondelete="CASCADE"), unique=True
    )
    role: Mapped[str] = mapped_column(String(8), default="task")  # task | format | safety | judge
    scorer: Mapped[str] = mapped_column(String(24), default="exact_match")
    prompt_field: Mapped[str] = mapped_column(String(200), default="")
    reference_field: Mapped[str] = mapped_column(String(200), default="")
    category_field: Mapped[str] = mapped_column(String(200), default="")
    pattern: Mapped[str] = mapped_column(Text, default="")
    max_new_tokens: Mapped[int] = mapped_column(Integer, default=256)
    min_score: Mapped[float | None] = mapped_column(Float, default=None)
    min_gain: Mapped[float | None] = mapped_column(Float, default=None)
    json_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    #: Refusal sets: each pattern hit is confirmed by the project's judge endpoint.
    judge_refusals: Mapped[bool] = mapped_column(default=False, server_default=false())


class EvaluationRun(TimestampMixin, Base):
    """A model under test (base + prompt, base + a training run's adapter, or merged) on one
    or more eval sets, beside the base model's prompt variants, with its gate report."""

    __tablename__ = "evaluation_runs"
    __table_args__ = (Index("ix_evaluation_runs_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    training_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id", ondelete="SET NULL"), default=None
    )
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("export_snapshots.id", ondelete="SET NULL"), default=None
    )
    model_kind: Mapped[str] = mapped_column(String(16))  # prompt | adapter | merged
    base_model: Mapped[str] = mapped_column(String(500))
    adapter_path: Mapped[str | None] = mapped_column(String(500), default=None)
    prompt_variant: Mapped[str] = mapped_column(String(32), default="system")
    backend: Mapped[str] = mapped_column(String(16), default="transformers")
    endpoint_url: Mapped[str | None] = mapped_column(String(500), default=None)
    endpoint_model: Mapped[str | None] = mapped_column(String(200), default=None)
    endpoint_base_model: Mapped[str | None] = mapped_column(String(200), default=None)
    api_key_env: Mapped[str | None] = mapped_column(String(100), default=None)
    eval_set_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    #: The policy and set settings as they were when the run started (the report uses these).
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    verdict: Mapped[str | None] = mapped_column(String(16), default=None)
    passed: Mapped[bool | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def finished(self) -> bool:
        return self.state in EVAL_FINISHED


class EvaluationResult(Base):
    """One model's output on one eval item. ``model`` is ``tune`` (the model under test) or
    ``base:<variant>``; stored once per (run, model, item), so a resumed run redoes nothing."""

    __tablename__ = "evaluation_results"
    __table_args__ = (
        UniqueConstraint("run_id", "model", "eval_item_id"),
        Index("ix_evaluation_results_run_id_set", "run_id", "eval_set_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"))
    eval_set_id: Mapped[int] = mapped_column(ForeignKey("eval_sets.id", ondelete="CASCADE"))
    eval_item_id: Mapped[int] = mapped_column(ForeignKey("eval_items.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(64))
    output: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    extracted: Mapped[str | None] = mapped_column(Text, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    new_tokens: Mapped[int] = mapped_column(Integer, default=0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
