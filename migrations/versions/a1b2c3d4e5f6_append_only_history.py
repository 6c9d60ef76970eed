"""history rows are append-only on PostgreSQL

Revision ID: a1b2c3d4e5f6
Revises: 687ce8fd3d94
Create Date: 2026-11-28 16:20:00
"""

from alembic import op

from htsd_workflow.cases.models import IMMUTABLE_HISTORY_SQL

revision = "a1b2c3d4e5f6"
down_revision = "687ce8fd3d94"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # the text is written for DDL(), which needs % doubled
        op.execute(IMMUTABLE_HISTORY_SQL.replace("%%", "%"))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS case_events_append_only ON case_events")
        op.execute("DROP FUNCTION IF EXISTS htsd_refuse_case_events_change()")
