"""Contamination checks: runs, what was checked at which content, the flags, and the caches."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, HashType, JSONType, str_enum, utcnow
from app.models.enums import ItemKind


class FlagStatus(enum.StrEnum):
    open = "open"
    dismissed = "dismissed"
    """A reviewer judged it a false alarm (the reason is kept)."""
    dropped = "dropped"
    """The training item was rejected because of it."""


class ContaminationRun(Base):
    """One check of a project's items against some frozen eval sets; chunk jobs count ``done``
    up to ``total`` and the one that reaches it sets ``finished_at``."""

    __tablename__ = "contamination_runs"
    __table_args__ = (Index("ix_contamination_runs_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    eval_set_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    full: Mapped[bool] = mapped_column(default=False)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    flags: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class ContaminationChecked(Base):
    """That an item, at this content, was checked against this eval set (the incremental
    check re-checks an item only when its content hash differs or it has no row)."""

    __tablename__ = "contamination_checked"
    __table_args__ = (
        UniqueConstraint("eval_set_id", "example_id"),
        UniqueConstraint("eval_set_id", "pair_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    eval_set_id: Mapped[int] = mapped_column(ForeignKey("eval_sets.id", ondelete="CASCADE"))
    example_id: Mapped[int | None] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), default=None
    )
    pair_id: Mapped[int | None] = mapped_column(
        ForeignKey("preference_pairs.id", ondelete="CASCADE"), default=None
    )
    content_hash: Mapped[str] = mapped_column(HashType)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContaminationFlag(Base):
    """A training item that holds an eval item: how it was found, the scores, the spans."""

    __tablename__ = "contamination_flags"
    __table_args__ = (
        Index("ix_contamination_flags_project_status", "project_id", "status", "id"),
        Index("ix_contamination_flags_example_id", "example_id"),
        Index("ix_contamination_flags_pair_id", "pair_id"),
        Index("ix_contamination_flags_eval_set_id", "eval_set_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("contamination_runs.id", ondelete="SET NULL"), default=None
    )
    eval_set_id: Mapped[int] = mapped_column(ForeignKey("eval_sets.id", ondelete="CASCADE"))
    eval_item_id: Mapped[int] = mapped_column(ForeignKey("eval_items.id", ondelete="CASCADE"))
    item_kind: Mapped[ItemKind] = mapped_column(str_enum(ItemKind, "flag_item_kind"))
    example_id: Mapped[int | None] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), default=None
    )
    pair_id: Mapped[int | None] = mapped_column(
        ForeignKey("preference_pairs.id", ondelete="CASCADE"), default=None
    )
    item_content_hash: Mapped[str] = mapped_column(HashType)
    method: Mapped[str] = mapped_column(String(32))
    jaccard: Mapped[float | None] = mapped_column(Float, default=None)
    containment: Mapped[float | None] = mapped_column(Float, default=None)
    cosine: Mapped[float | None] = mapped_column(Float, default=None)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    """The strongest of the three, for sorting."""
    eval_field: Mapped[str | None] = mapped_column(String(200), default=None)
    spans: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """{"train": [[start, end], ...], "eval": [[start, end], ...]}: character offsets of the
    matching runs in the training text and the eval text shown side by side."""
    status: Mapped[FlagStatus] = mapped_column(
        str_enum(FlagStatus, "flag_status"), default=FlagStatus.open
    )
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    resolved_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvalIndexBlob(Base):
    """What checks need about one frozen eval set (signatures, LSH, n-grams, embeddings),
    computed at freeze time by a worker and kept; keyed by the set's content hash and model."""

    __tablename__ = "eval_indexes"

    eval_set_id: Mapped[int] = mapped_column(
        ForeignKey("eval_sets.id", ondelete="CASCADE"), primary_key=True
    )
    content_hash: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(200))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)


class EmbeddingCache(Base):
    """Sentence embeddings by (model, content hash of the embedded text), float16."""

    __tablename__ = "embeddings"

    model_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    content_hash: Mapped[str] = mapped_column(HashType, primary_key=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
