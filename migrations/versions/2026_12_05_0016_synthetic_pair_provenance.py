"""synthetic provenance of pair candidates: synthetic_provenance.pair_id, example_id nullable,
exactly one of the two set

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 10:00:00.000000

On SQLite the batch rebuilds synthetic_provenance. That is safe with foreign keys on: no table
references synthetic_provenance, so dropping the old copy cascades to nothing (unlike the item
tables, see 0014).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "synthetic_provenance"


def upgrade() -> None:
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column("pair_id", sa.Integer(), nullable=True))
        batch_op.alter_column("example_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            op.f("fk_synthetic_provenance_pair_id_preference_pairs"),
            "preference_pairs",
            ["pair_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_index("ix_synthetic_provenance_pair_id", ["pair_id"], unique=False)
        batch_op.create_check_constraint(
            op.f("ck_synthetic_provenance_one_item"),
            sa.text("(example_id IS NULL) <> (pair_id IS NULL)"),
        )


def downgrade() -> None:
    # Provenance of pairs has nowhere to go in the older schema.
    op.execute(sa.text("DELETE FROM synthetic_provenance WHERE pair_id IS NOT NULL"))
    with op.batch_alter_table(_TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_synthetic_provenance_one_item"), type_="check")
        batch_op.drop_index("ix_synthetic_provenance_pair_id")
        batch_op.drop_constraint(
            op.f("fk_synthetic_provenance_pair_id_preference_pairs"), type_="foreignkey"
        )
        batch_op.alter_column("example_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("pair_id")
