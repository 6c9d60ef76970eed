"""reports: the bottleneck report's figures kept per closed month

``stage_visit_months`` counts the visits that left in a closed month per stage, title and
district, by outcome, by working days and by day of entry; ``report_closed_months`` lists the months counted
(the worker's ``close_report_months`` fills both every night). Until a month is closed the
report counts its visits one by one, as before.

Revision ID: e6f8a0b2c4d5
Revises: d5e7f9a1b3c4
Create Date: 2026-11-29 16:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e6f8a0b2c4d5"
down_revision = "d5e7f9a1b3c4"
branch_labels = None
depends_on = None

CELL_COLUMNS = [
    "kind",
    "stage",
    "title",
    "province_code",
    "district_code",
    "outcome",
    "is_late",
    "is_escalated",
    "working_days",
    "entered_on",
    "visits",
]


def upgrade():
    op.create_table(
        "report_closed_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("month"),
    )
    op.create_table(
        "stage_visit_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("stage", sa.String(length=60), nullable=False),
        sa.Column("title", sa.String(length=12), nullable=False),
        sa.Column("province_code", sa.String(length=10), nullable=False),
        sa.Column("district_code", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("is_late", sa.Boolean(), nullable=True),
        sa.Column("is_escalated", sa.Boolean(), nullable=True),
        sa.Column("working_days", sa.Integer(), nullable=True),
        sa.Column("entered_on", sa.Date(), nullable=True),
        sa.Column("visits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_stage_visit_months_month",
        "stage_visit_months",
        ["month"],
        unique=False,
        postgresql_include=CELL_COLUMNS,
    )


def downgrade():
    op.drop_index("ix_stage_visit_months_month", table_name="stage_visit_months")
    op.drop_table("stage_visit_months")
    op.drop_table("report_closed_months")
