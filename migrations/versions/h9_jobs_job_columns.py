"""jobs: bulk and import jobs share one set of job columns (status, total, done, heartbeat)

``bulk_jobs.processed`` becomes ``done`` and gains ``heartbeat_at`` (a redelivered task takes
over only a silent run), its ``total`` may be unknown like an import's; ``import_jobs.rows_done``
and ``rows_total`` become ``done`` and ``total`` and it gains ``started_at``.

Revision ID: h9_jobs_job_columns
Revises: h2_scores_score_and_override
Create Date: 2026-12-07 12:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h9_jobs_job_columns"
down_revision = "h2_scores_score_and_override"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.alter_column("processed", new_column_name="done")
        batch_op.alter_column("total", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column("heartbeat_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.alter_column("rows_done", new_column_name="done")
        batch_op.alter_column("rows_total", new_column_name="total")
        batch_op.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("import_jobs", schema=None) as batch_op:
        batch_op.drop_column("started_at")
        batch_op.alter_column("total", new_column_name="rows_total")
        batch_op.alter_column("done", new_column_name="rows_done")
    op.execute("UPDATE bulk_jobs SET total = 0 WHERE total IS NULL")
    with op.batch_alter_table("bulk_jobs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.alter_column("total", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("done", new_column_name="processed")
