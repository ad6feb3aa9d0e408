"""Training runs: an export snapshot + a method + a base model + hyperparameters, run by a
backend through a stored handle, and the metric rows the runner reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, TimestampMixin

RUN_STATES = ("queued", "submitting", "running", "succeeded", "failed", "cancelled", "manual")
ACTIVE_STATES = ("submitting", "running", "manual")
FINISHED_STATES = ("succeeded", "failed", "cancelled")


class TrainingRun(TimestampMixin, Base):
    """One training run. ``handle`` is the backend's string for finding the run again: any
    worker that reads it can poll, sync, read logs or cancel (a dead worker loses nothing)."""

    __tablename__ = "training_runs"
    __table_args__ = (
        Index("ix_training_runs_project_id_id", "project_id", "id"),
        Index("ix_training_runs_state", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("export_snapshots.id", ondelete="SET NULL"), default=None
    )
    method: Mapped[str] = mapped_column(String(8))  # sft | dpo
    base_model: Mapped[str] = mapped_column(String(500))
    preset: Mapped[str] = mapped_column(String(16))  # qlora | lora | full
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)  # the full RunConfig
    backend: Mapped[str] = mapped_column(String(16), default="local")
    resources: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    """queued | submitting | running | succeeded | failed | cancelled | manual"""
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    handle: Mapped[str | None] = mapped_column(Text, default=None)
    run_dir: Mapped[str] = mapped_column(String(500), default="")
    memory: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    init_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("training_runs.id", ondelete="SET NULL"), default=None
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)  # the backend's last word
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    last_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    metrics_count: Mapped[int] = mapped_column(Integer, default=0)
    log_tail: Mapped[str | None] = mapped_column(Text, default=None)
    adapter_path: Mapped[str | None] = mapped_column(String(500), default=None)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    polled_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


class TrainingMetric(Base):
    """One line of the runner's metrics.jsonl; ``seq`` is its line number (0-based), so
    ingesting the same file twice stores each line once."""

    __tablename__ = "training_metrics"
    __table_args__ = (Index("ix_training_metrics_run_id_seq", "run_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("training_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    step: Mapped[int | None] = mapped_column(Integer, default=None)
    event: Mapped[str] = mapped_column(String(16))
    row: Mapped[dict[str, Any]] = mapped_column(JSONType)
