"""rounds: each level's review deadline (commune, district, province)

Revision ID: h21_round_level_deadlines
Revises: h17_seen_report_pdf_jobs
Create Date: 2026-12-07 15:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h21_round_level_deadlines"  # alembic allows no "-" in an id
down_revision = "h17_seen_report_pdf_jobs"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("level_deadlines", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("level_deadlines")
