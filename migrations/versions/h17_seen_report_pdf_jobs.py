"""reports: large report PDFs built by the worker with a progress bar (report_pdf_jobs)

Revision ID: h17_seen_report_pdf_jobs
Revises: h17_seen_notification_params
Create Date: 2026-12-07 15:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h17_seen_report_pdf_jobs"
down_revision = "h17_seen_notification_params"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_pdf_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("back", sa.String(length=500), nullable=True),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_report_pdf_jobs_user_id", "report_pdf_jobs", ["user_id"])


def downgrade():
    op.drop_index("ix_report_pdf_jobs_user_id", table_name="report_pdf_jobs")
    op.drop_table("report_pdf_jobs")
