"""evaluation judge endpoint and judge-scored sets

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 08:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("eval_gate_policies", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("judge_url", sa.String(length=500), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("judge_model", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("judge_api_key_env", sa.String(length=100), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("min_judge_win_rate", sa.Float(), server_default="0.5", nullable=False)
        )
    with op.batch_alter_table("eval_set_settings", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("judge_refusals", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("eval_set_settings", schema=None) as batch_op:
        batch_op.drop_column("judge_refusals")
    with op.batch_alter_table("eval_gate_policies", schema=None) as batch_op:
        batch_op.drop_column("min_judge_win_rate")
        batch_op.drop_column("judge_api_key_env")
        batch_op.drop_column("judge_model")
        batch_op.drop_column("judge_url")
