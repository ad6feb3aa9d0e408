"""The one DeclarativeBase, shared column types and helpers for every model."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import JSON, DateTime, Enum, MetaData, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSONB on PostgreSQL (indexable, compact), plain JSON text elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

# sha256 hex digests: byte-wise collation on PostgreSQL makes the unique index on them about
# 2x cheaper to maintain during bulk imports than a locale-aware one.
HashType = String(64).with_variant(String(64, collation="C"), "postgresql")


class ProjectRow(Protocol):
    project_id: int


R = TypeVar("R", bound=ProjectRow)


def in_project(db: Session, model: type[R], project_id: int, row_id: int | None) -> R | None:
    """The row of `model` with this id when it belongs to the project; None otherwise (so ids
    never leak across projects). Callers raise their own NotFound."""
    row = db.get(model, row_id) if row_id is not None else None
    return row if row is not None and row.project_id == project_id else None


def dialect_insert(db: Session, table: Any) -> Any:
    """An INSERT that knows ON CONFLICT on both backends."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def str_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    """Enums stored as their string values with a CHECK constraint (no native PG enum types)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
