"""Production feedback: rated responses imported from an app's logs, the pairs made from them,
and each project's remembered field mapping."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, HashType, JSONType, utcnow


class FeedbackEntry(Base):
    """One rated response: the prompt it answered, the response text, and the rating."""

    __tablename__ = "feedback_entries"
    __table_args__ = (
        UniqueConstraint("project_id", "entry_hash"),
        Index("ix_feedback_entries_project_prompt", "project_id", "prompt_key", "id"),
        Index("ix_feedback_entries_project_context", "project_id", "context_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    import_job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    file: Mapped[str] = mapped_column(String(200), default="")
    line: Mapped[int] = mapped_column(Integer, default=0)
    """The line (JSONL, CSV) or record (Parquet) of `file` the rating came from."""
    log_id: Mapped[str | None] = mapped_column(String(200), default=None)
    """The app's own id for the logged event, when the file carries one."""
    prompt: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    """The conversation the response answered, ending with the last user turn."""
    response: Mapped[str] = mapped_column(Text)
    prompt_key: Mapped[str] = mapped_column(HashType)
    """Hash of the normalised last user turn (whitespace and case folded)."""
    context_key: Mapped[str] = mapped_column(HashType)
    """Hash of the whole normalised prompt conversation."""
    response_key: Mapped[str] = mapped_column(HashType)
    label: Mapped[bool | None] = mapped_column(Boolean, default=None)
    """True: thumbs up (or 4-5 of 5); False: down (or 1-2); None: neutral (3 of 5, a tie)."""
    score: Mapped[int | None] = mapped_column(Integer, default=None)
    """The 1..5 rating, when the app rated on that scale."""
    rating: Mapped[str] = mapped_column(String(32))
    """The rating as the file gave it, for display."""
    entry_hash: Mapped[str] = mapped_column(HashType)
    """Identifies a log row (log id, prompt, response, rating): a re-import adds nothing."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedbackPairLink(Base):
    """Which feedback entries a preference pair was made from, and on which side."""

    __tablename__ = "feedback_pair_links"
    __table_args__ = (
        UniqueConstraint("pair_id", "entry_id"),
        Index("ix_feedback_pair_links_entry_id", "entry_id"),
        Index("ix_feedback_pair_links_project_id", "project_id", "pair_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    pair_id: Mapped[int] = mapped_column(ForeignKey("preference_pairs.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("feedback_entries.id", ondelete="CASCADE"))
    chosen: Mapped[bool] = mapped_column(Boolean)


class FeedbackMapping(Base):
    """The field names a project's feedback files use, remembered from its last import."""

    __tablename__ = "feedback_mappings"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
