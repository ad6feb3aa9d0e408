"""Named selections of items (a diverse subset, a hand-picked set) that exports can filter on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, utcnow


class Selection(Base):
    __tablename__ = "selections"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(32), default="manual")
    """How it was made: ``manual``, ``diverse_subset``, ``map``."""
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SelectionItem(Base):
    __tablename__ = "selection_items"
    __table_args__ = (
        UniqueConstraint("selection_id", "example_id"),
        UniqueConstraint("selection_id", "pair_id"),
        Index("ix_selection_items_example_id", "example_id"),
        Index("ix_selection_items_pair_id", "pair_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    selection_id: Mapped[int] = mapped_column(ForeignKey("selections.id", ondelete="CASCADE"))
    example_id: Mapped[int | None] = mapped_column(
        ForeignKey("examples.id", ondelete="CASCADE"), default=None
    )
    pair_id: Mapped[int | None] = mapped_column(
        ForeignKey("preference_pairs.id", ondelete="CASCADE"), default=None
    )
