from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, TimestampMixin


class ExportSnapshot(TimestampMixin, Base):
    """An export: the exact item versions that went in, the files written, and their manifest.

    The files live under the data folder and are never rewritten, so a download months later is
    byte-identical whatever happened to the items since.
    """

    __tablename__ = "export_snapshots"
    __table_args__ = (Index("ix_export_snapshots_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending|ready|blocked|checked|failed
    error: Mapped[str | None] = mapped_column(Text, default=None)  # why it failed
    format: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    gates: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType, default=None)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    directory: Mapped[str | None] = mapped_column(String(500), default=None)
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
