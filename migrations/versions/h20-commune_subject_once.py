"""subjects: the commune as an applicant ("Cộng đồng học tập cấp xã"), one per commune

Revision ID: h20_commune_subject_once
Revises: h13_round_village_meetings
Create Date: 2026-12-07 15:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h20_commune_subject_once"  # alembic allows no "-" in an id
down_revision = "h13_round_village_meetings"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "uq_subjects_one_commune",
        "subjects",
        ["unit_code"],
        unique=True,
        postgresql_where=sa.text("kind = 'commune'"),
        sqlite_where=sa.text("kind = 'commune'"),
    )


def downgrade():
    op.drop_index("uq_subjects_one_commune", table_name="subjects")
