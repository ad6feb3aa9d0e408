"""Diversity runs: dataset metrics per run and per-item scores of the latest run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, str_enum, utcnow
from app.models.enums import ItemKind


class DiversityRun(Base):
    """One scoring of a project's items.  Chunk jobs embed (cached by content hash) and count
    ``done`` up to ``total``; the one that completes it queues the scoring job, which fills
    ``metrics`` and the items' scores and keeps ``state`` for re-scoring single edits."""

    __tablename__ = "diversity_runs"
    __table_args__ = (Index("ix_diversity_runs_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    model_id: Mapped[str] = mapped_column(String(200), default="")
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    phase: Mapped[str] = mapped_column(String(16), default="embedding")
    """embedding | scoring | done"""
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    previous_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    state: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    failed: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class DiversityScore(Base):
    """One item's scores in a run (only the project's latest finished run keeps rows)."""

    __tablename__ = "diversity_scores"
    __table_args__ = (
        Index("ix_diversity_scores_run_cluster", "run_id", "cluster"),
        Index("ix_diversity_scores_run_group", "run_id", "dup_group"),
        Index("ix_diversity_scores_example_id", "example_id"),
        Index("ix_diversity_scores_pair_id", "pair_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("diversity_runs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    """Row of the item in the run's embedding matrix."""
    item_kind: Mapped[ItemKind] = mapped_column(str_enum(ItemKind, "diversity_item_kind"))
    example_id: Mapped[int | None] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), default=None
    )
    pair_id: Mapped[int | None] = mapped_column(
        ForeignKey("preference_pairs.id", ondelete="CASCADE"), default=None
    )
    nn_position: Mapped[int | None] = mapped_column(Integer, default=None)
    nn_sim: Mapped[float | None] = mapped_column(Float, default=None)
    novelty: Mapped[float | None] = mapped_column(Float, default=None)
    cluster: Mapped[int | None] = mapped_column(Integer, default=None)
    dup_group: Mapped[int | None] = mapped_column(Integer, default=None)
    x: Mapped[float] = mapped_column(Float, default=0.0)
    y: Mapped[float] = mapped_column(Float, default=0.0)
    chars: Mapped[int] = mapped_column(Integer, default=0)
    words: Mapped[int] = mapped_column(Integer, default=0)
    turns: Mapped[int] = mapped_column(Integer, default=0)
