"""Recognition decisions, the cases each lists (with the certificate codes), certificate jobs.

Revision ID: h7_decisions_decisions
Revises: h9_jobs_job_columns
"""

import sqlalchemy as sa
from alembic import op

revision = "h7_decisions_decisions"
down_revision = "h9_jobs_job_columns"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("unit_code", sa.String(10), sa.ForeignKey("units.code"), nullable=False),
        sa.Column("province_code", sa.String(10), nullable=False),
        sa.Column("district_code", sa.String(10), nullable=True),
        sa.Column("commune_code", sa.String(10), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("body_name", sa.String(300), nullable=False),
        sa.Column("signer_title", sa.String(200), nullable=False),
        sa.Column("bases", sa.Text(), nullable=False),
        sa.Column("valid_months", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(60), nullable=True),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("signer_name", sa.String(200), nullable=True),
        sa.Column("issued_at", sa.DateTime(), nullable=True),
        sa.Column("issued_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("is_signed", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("unit_code", "year", "number", name="uq_decisions_unit_year_number"),
    )
    op.create_index(
        "ix_decisions_territory", "decisions", ["province_code", "district_code", "commune_code"]
    )
    op.create_table(
        "decision_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("decisions.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False, unique=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("village", sa.String(300), nullable=True),
        sa.Column("commune", sa.String(300), nullable=True),
        sa.UniqueConstraint("case_id", name="uq_decision_entries_case"),
    )
    op.create_index(
        "ix_decision_entries_decision", "decision_entries", ["decision_id", "position"]
    )
    op.create_table(
        "certificate_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("decisions.id"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_certificate_jobs_decision_id", "certificate_jobs", ["decision_id"])


def downgrade():
    op.drop_index("ix_certificate_jobs_decision_id", table_name="certificate_jobs")
    op.drop_table("certificate_jobs")
    op.drop_index("ix_decision_entries_decision", table_name="decision_entries")
    op.drop_table("decision_entries")
    op.drop_index("ix_decisions_territory", table_name="decisions")
    op.drop_table("decisions")
