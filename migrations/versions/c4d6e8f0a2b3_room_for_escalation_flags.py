"""cases, stage_visits: fillfactor 90, so that the escalation scan's flags are heap-only updates

Only pages written from now on keep the room; existing pages get it when the table is
rewritten (or as rows move). The bench data generator loads into the migrated tables.

Revision ID: c4d6e8f0a2b3
Revises: b3c5d7e9f1a2
Create Date: 2026-11-29 07:40:00

"""

from alembic import op

from htsd_workflow.cases.models import SCAN_FLAGGED_TABLES, fillfactor_sql

# revision identifiers, used by Alembic.
revision = "c4d6e8f0a2b3"
down_revision = "b3c5d7e9f1a2"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in SCAN_FLAGGED_TABLES:
            op.execute(fillfactor_sql(table))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in SCAN_FLAGGED_TABLES:
            op.execute(fillfactor_sql(table, None))
