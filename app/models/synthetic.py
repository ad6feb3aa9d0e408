"""Synthetic generation: a project's endpoint settings, its prompt template versions, the runs,
and the provenance of every example and pair candidate a run wrote."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class SyntheticSettings(Base):
    """Where a project's generators send requests. The API key is never stored: only the
    *name* of the environment variable the workers read it from."""

    __tablename__ = "synthetic_settings"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    base_url: Mapped[str] = mapped_column(String(500))
    model: Mapped[str] = mapped_column(String(200))
    api_key_env: Mapped[str | None] = mapped_column(String(100), default=None)
    temperature: Mapped[float] = mapped_column(Float, default=0.7)
    max_tokens: Mapped[int] = mapped_column(Integer, default=512)
    concurrency: Mapped[int] = mapped_column(Integer, default=4)
    max_requests: Mapped[int] = mapped_column(Integer, default=200)
    timeout_s: Mapped[float] = mapped_column(Float, default=120.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class SyntheticTemplate(Base):
    """One version of a project's prompt template for one method (version 0 is built in and
    never stored)."""

    __tablename__ = "synthetic_templates"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class SyntheticRun(Base):
    """One generation job: what was asked, with which settings, and what each filter dropped."""

    __tablename__ = "synthetic_runs"
    __table_args__ = (Index("ix_synthetic_runs_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    method: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """The request (count, status, seed tasks...) and the endpoint settings used (no key)."""
    counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """requests, kept, dropped per filter, failed requests, why it stopped."""
    state: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SyntheticProvenance(Base):
    """Where a generated (or completed) example, or a generated pair candidate, came from:
    exactly one of `example_id` and `pair_id` is set."""

    __tablename__ = "synthetic_provenance"
    __table_args__ = (
        Index("ix_synthetic_provenance_example_id", "example_id"),
        Index("ix_synthetic_provenance_pair_id", "pair_id"),
        Index("ix_synthetic_provenance_run_id", "run_id"),
        CheckConstraint("(example_id IS NULL) <> (pair_id IS NULL)", name="one_item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("synthetic_runs.id", ondelete="SET NULL"), default=None
    )
    example_id: Mapped[int | None] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), default=None
    )
    pair_id: Mapped[int | None] = mapped_column(
        ForeignKey("preference_pairs.id", ondelete="CASCADE"), default=None
    )
    method: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    templates: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """{template name: version} of every template the item's requests used."""
    seed_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    parent_id: Mapped[int | None] = mapped_column(Integer, default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
