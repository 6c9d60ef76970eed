"""cases: the escalation scan's index (open cases by title, stage and due date)

Revision ID: b3c5d7e9f1a2
Revises: b7c4e2a9d105
Create Date: 2026-11-29 07:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b3c5d7e9f1a2"
down_revision = "b7c4e2a9d105"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        "ix_cases_sla_scan",
        "cases",
        ["title", "state", "due_at"],
        unique=False,
        postgresql_include=["id", "stage_entered_at"],
        postgresql_where=sa.text("is_open"),
        sqlite_where=sa.text("is_open"),
    )


def downgrade():
    op.drop_index("ix_cases_sla_scan", table_name="cases")
