from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base


class LoginThrottle(Base):
    """Failed sign-ins counted under one key: `account:<email>` or `address:<client ip>`.

    Keys exist for unknown emails too, so a throttled answer never tells whether an account
    exists."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime]
    blocked_until: Mapped[datetime | None] = mapped_column(default=None)
