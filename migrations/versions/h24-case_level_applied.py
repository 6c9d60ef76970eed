"""cases: the level applied for (mức độ) of a levels-kind criteria set

Revision ID: h24_case_level_applied
Revises: h21_round_level_deadlines
Create Date: 2026-12-07 16:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h24_case_level_applied"  # alembic allows no "-" in an id
down_revision = "h21_round_level_deadlines"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("level_applied", sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("level_applied")
