"""report indexes: covering indexes for the bottleneck and targets reports

Revision ID: b7c4e2a9d105
Revises: ae1d17a0b9c3
Create Date: 2026-11-29 06:50:00

The bottleneck report and its weekly trend read the stage visits overlapping a period (open
ones, and those that left since its start); the targets report counts a year's submitted cases
per area and title; the longest-waiting list takes the oldest open cases with a deadline. Each
becomes an index-only (or ordered, limited) scan instead of a sequential scan of the table.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "b7c4e2a9d105"
down_revision = "ae1d17a0b9c3"
branch_labels = None
depends_on = None

VISIT_REPORT_COLUMNS = [
    "due_at",
    "stage",
    "title",
    "province_code",
    "district_code",
    "commune_code",
    "outcome",
    "working_days",
    "is_late",
    "is_escalated",
]
OPEN_WITH_DEADLINE = "is_open IS TRUE AND due_at IS NOT NULL"


def upgrade():
    op.create_index(
        "ix_cases_open_waiting",
        "cases",
        ["stage_entered_at"],
        postgresql_where=sa.text(OPEN_WITH_DEADLINE),
        sqlite_where=sa.text(OPEN_WITH_DEADLINE),
    )
    op.create_index(
        "ix_cases_targets",
        "cases",
        ["year", "province_code", "district_code", "commune_code", "title", "subject_id"],
        postgresql_include=["state"],
        postgresql_where=sa.text("submitted_at IS NOT NULL"),
        sqlite_where=sa.text("submitted_at IS NOT NULL"),
    )
    op.create_index(
        "ix_stage_visits_open_report",
        "stage_visits",
        ["entered_at"],
        postgresql_include=["left_at", *VISIT_REPORT_COLUMNS],
        postgresql_where=sa.text("left_at IS NULL"),
        sqlite_where=sa.text("left_at IS NULL"),
    )
    op.create_index(
        "ix_stage_visits_left_report",
        "stage_visits",
        ["left_at"],
        postgresql_include=["entered_at", *VISIT_REPORT_COLUMNS],
        postgresql_where=sa.text("left_at IS NOT NULL"),
        sqlite_where=sa.text("left_at IS NOT NULL"),
    )


def downgrade():
    op.drop_index("ix_stage_visits_left_report", table_name="stage_visits")
    op.drop_index("ix_stage_visits_open_report", table_name="stage_visits")
    op.drop_index("ix_cases_targets", table_name="cases")
    op.drop_index("ix_cases_open_waiting", table_name="cases")
