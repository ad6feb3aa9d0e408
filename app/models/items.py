"""Examples (SFT conversations) and preference pairs share provenance and review fields."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from app.models.base import Base, HashType, JSONType, str_enum, utcnow
from app.models.enums import ItemStatus, Source


class ItemFields:
    """Columns common to examples and pairs."""

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    source: Mapped[Source] = mapped_column(str_enum(Source, "item_source"))
    generator: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[ItemStatus] = mapped_column(str_enum(ItemStatus, "item_status"))
    split: Mapped[str | None] = mapped_column(String(32), default=None)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    content_hash: Mapped[str] = mapped_column(HashType)
    version: Mapped[int] = mapped_column(Integer, default=1)
    import_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        # Optimistic locking: every UPDATE checks and bumps `version`.
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)

    @declared_attr
    def updated_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)


class Example(ItemFields, Base):
    __tablename__ = "examples"
    __table_args__ = (
        UniqueConstraint("project_id", "content_hash"),
        # list pages filter by project and status/source and page by id
        Index("ix_examples_project_id_id", "project_id", "id"),
        Index("ix_examples_project_updated", "project_id", "updated_at", "id"),
        Index("ix_examples_project_status_id", "project_id", "status", "id"),
        Index("ix_examples_project_source_id", "project_id", "source", "id"),
    )
    messages: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    tools: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=None)
    needs_response: Mapped[bool] = mapped_column(default=False)


class PreferencePair(ItemFields, Base):
    __tablename__ = "preference_pairs"
    __table_args__ = (
        UniqueConstraint("project_id", "content_hash"),
        Index("ix_preference_pairs_project_id_id", "project_id", "id"),
        Index("ix_preference_pairs_project_updated", "project_id", "updated_at", "id"),
        Index("ix_preference_pairs_project_status_id", "project_id", "status", "id"),
    )

    prompt: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    chosen: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    rejected: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)


class Revision(Base):
    """Every change to an example or pair: who, when, the state before and after."""

    __tablename__ = "revisions"
    __table_args__ = (Index("ix_revisions_item", "item_kind", "item_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
