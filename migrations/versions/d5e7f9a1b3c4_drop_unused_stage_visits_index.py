"""stage_visits: drop ix_stage_visits_stage_entered, which no query reads

The reports read the visits through their covering indexes (``ix_stage_visits_open_report``,
``ix_stage_visits_left_report``; a stage filter is applied within them), the transitions and
the escalation scan through ``ix_stage_visits_open``; nothing orders or filters by stage and
entry alone (none of the 1M bench run's statements used it). Every row version still paid an
entry in it: each visit opened and closed, and each stage-visit flag the escalation scan sets
(the flag is in the report indexes' INCLUDE lists, so it is never a heap-only update).

Revision ID: d5e7f9a1b3c4
Revises: c4d6e8f0a2b3
Create Date: 2026-11-29 10:10:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "d5e7f9a1b3c4"
down_revision = "c4d6e8f0a2b3"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_stage_visits_stage_entered", table_name="stage_visits")


def downgrade():
    op.create_index(
        "ix_stage_visits_stage_entered", "stage_visits", ["stage", "entered_at"], unique=False
    )
