"""production feedback: feedback_entries, feedback_pair_links, feedback_mappings, and the
`feedback` item source (the CHECK on examples/preference_pairs.source is rewritten)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 07:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_HASH = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")
_OLD_SOURCES = ("human", "synthetic", "imported")
_NEW_SOURCES = (*_OLD_SOURCES, "feedback")


def _rewrite_source_check(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """Replace the CHECK on `source` of both item tables.

    PostgreSQL drops and adds the constraint. SQLite cannot alter a CHECK, and rebuilding the
    tables (batch mode) would DROP them with foreign keys on, which cascades: selection items,
    flags and scores of every example would be deleted. Widening or narrowing an IN list does
    not change how rows are stored, so the table definitions are edited in place, as SQLite's
    ALTER TABLE documentation describes (writable_schema, then a schema_version bump)."""
    was = ", ".join(f"'{s}'" for s in old)
    allowed = ", ".join(f"'{s}'" for s in new)
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        for table in ("examples", "preference_pairs"):
            name = op.f(f"ck_{table}_item_source")
            op.drop_constraint(name, table, type_="check")
            op.create_check_constraint(name, table, sa.text(f"source IN ({allowed})"))
        return
    version = int(bind.exec_driver_sql("PRAGMA schema_version").scalar_one())
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    try:
        for table in ("examples", "preference_pairs"):
            changed = bind.execute(
                sa.text(
                    "UPDATE sqlite_master SET sql = replace(sql, :old, :new) "
                    "WHERE type = 'table' AND name = :table AND instr(sql, :old) > 0"
                ),
                {"old": f"source IN ({was})", "new": f"source IN ({allowed})", "table": table},
            ).rowcount
            if changed != 1:
                raise RuntimeError(f"{table}: the CHECK on source is not 'source IN ({was})'")
        bind.exec_driver_sql(f"PRAGMA schema_version={version + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema=OFF")


def upgrade() -> None:
    op.create_table(
        "feedback_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("import_job_id", sa.Integer(), nullable=True),
        sa.Column("file", sa.String(length=200), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.String(length=200), nullable=True),
        sa.Column("prompt", _JSON, nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("prompt_key", _HASH, nullable=False),
        sa.Column("context_key", _HASH, nullable=False),
        sa.Column("response_key", _HASH, nullable=False),
        sa.Column("label", sa.Boolean(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rating", sa.String(length=32), nullable=False),
        sa.Column("entry_hash", _HASH, nullable=False),
        sa.Column("created_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_job_id"],
            ["jobs.id"],
            name=op.f("fk_feedback_entries_import_job_id_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_feedback_entries_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_entries")),
        sa.UniqueConstraint(
            "project_id", "entry_hash", name=op.f("uq_feedback_entries_project_id_entry_hash")
        ),
    )
    with op.batch_alter_table("feedback_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feedback_entries_project_context", ["project_id", "context_key", "id"]
        )
        batch_op.create_index(
            "ix_feedback_entries_project_prompt", ["project_id", "prompt_key", "id"]
        )

    op.create_table(
        "feedback_mappings",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("updated_at", app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_feedback_mappings_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_feedback_mappings")),
    )

    op.create_table(
        "feedback_pair_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["feedback_entries.id"],
            name=op.f("fk_feedback_pair_links_entry_id_feedback_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pair_id"],
            ["preference_pairs.id"],
            name=op.f("fk_feedback_pair_links_pair_id_preference_pairs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_feedback_pair_links_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_pair_links")),
        sa.UniqueConstraint(
            "pair_id", "entry_id", name=op.f("uq_feedback_pair_links_pair_id_entry_id")
        ),
    )
    with op.batch_alter_table("feedback_pair_links", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_pair_links_entry_id", ["entry_id"])
        batch_op.create_index("ix_feedback_pair_links_project_id", ["project_id", "pair_id"])

    _rewrite_source_check(_OLD_SOURCES, _NEW_SOURCES)


def downgrade() -> None:
    # Items made from feedback keep existing as imported rows; their links go with the table.
    op.execute(sa.text("UPDATE examples SET source = 'imported' WHERE source = 'feedback'"))
    op.execute(sa.text("UPDATE preference_pairs SET source = 'imported' WHERE source = 'feedback'"))
    _rewrite_source_check(_NEW_SOURCES, _OLD_SOURCES)
    with op.batch_alter_table("feedback_pair_links", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_pair_links_project_id")
        batch_op.drop_index("ix_feedback_pair_links_entry_id")
    op.drop_table("feedback_pair_links")
    op.drop_table("feedback_mappings")
    with op.batch_alter_table("feedback_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_feedback_entries_project_prompt")
        batch_op.drop_index("ix_feedback_entries_project_context")
    op.drop_table("feedback_entries")
