from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, JSONType, TimestampMixin, str_enum
from app.models.enums import Role


class Project(TimestampMixin, Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    guidelines: Mapped[str] = mapped_column(Text, default="")  # Markdown, sanitised on render
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    chat_template: Mapped[str] = mapped_column(String(64), default="chatml")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # Labeling and review rules.
    min_submissions: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    approvals_required: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    annotators_edit_prompts: Mapped[bool] = mapped_column(default=False, server_default=false())
    label_tags: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default="[]")


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "member_role"))
