"""Labeling queue slots, per-annotator labels and reviewer decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, HashType, JSONType, str_enum, utcnow
from app.models.enums import LabelState, Preference, ReviewDecision


class LabelSlot(Base):
    """One of the `min_submissions` labels an item needs.

    A slot is free, leased to one annotator until `lease_expires_at`, or done (then `user_id`
    is who labeled it). An annotator holds at most one slot of an item. `queued_at` orders the
    queue; a skip moves the slot to the back.
    """

    __tablename__ = "label_slots"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", "slot"),
        Index("ix_label_slots_queue", "project_id", "item_kind", "done", "queued_at", "id"),
        Index("ix_label_slots_user", "user_id", "done"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    slot: Mapped[int] = mapped_column(Integer, default=0)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    done: Mapped[bool] = mapped_column(default=False)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)


class Label(Base):
    """One annotator's label of one item: kept apart from everyone else's."""

    __tablename__ = "labels"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", "user_id"),
        Index("ix_labels_project_user_state", "project_id", "user_id", "state"),
        Index("ix_labels_project_state", "project_id", "item_kind", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[LabelState] = mapped_column(str_enum(LabelState, "label_state"))
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    preference: Mapped[Preference | None] = mapped_column(
        str_enum(Preference, "label_preference"), default=None
    )
    # Autosaved, not yet submitted edits ({"messages": [...], ...}) and the item version they
    # were made against.
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    item_version: Mapped[int | None] = mapped_column(Integer, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    seconds: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Review(Base):
    """A reviewer's decision on an item at one content hash."""

    __tablename__ = "reviews"
    __table_args__ = (
        Index("ix_reviews_item", "item_kind", "item_id", "id"),
        Index("ix_reviews_project_created", "project_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    item_kind: Mapped[str] = mapped_column(String(16))
    item_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    decision: Mapped[ReviewDecision] = mapped_column(str_enum(ReviewDecision, "review_decision"))
    comment: Mapped[str] = mapped_column(Text, default="")
    content_hash: Mapped[str] = mapped_column(HashType)
    item_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
