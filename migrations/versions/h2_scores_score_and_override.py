"""scores: the total that counts on each case, and a bulk job's override reason

``cases.score`` is each item's reviewers' adjusted score where given, else the self-assessed
one, summed (the queue shows it); ``bulk_jobs.override_reason`` lets a bulk approval or
signature move cases under their pass mark, for a stated reason.

Revision ID: h2_scores_score_and_override
Revises: h1_joint_part_claims
Create Date: 2026-12-07 12:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h2_scores_score_and_override"
down_revision = "h1_joint_part_claims"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("score", sa.Float(), nullable=True))
    with op.batch_alter_table("bulk_jobs") as batch_op:
        batch_op.add_column(sa.Column("override_reason", sa.Text(), nullable=True))
    op.execute(
        "UPDATE cases SET score = (SELECT sum(coalesce(i.reviewed_score, i.score)) "
        "FROM assessment_items AS i WHERE i.case_id = cases.id)"
    )


def downgrade():
    with op.batch_alter_table("bulk_jobs") as batch_op:
        batch_op.drop_column("override_reason")
    with op.batch_alter_table("cases") as batch_op:
        batch_op.drop_column("score")
