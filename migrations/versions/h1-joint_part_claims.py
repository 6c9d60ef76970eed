"""cases: claims on one department's part of a joint stage

At the joint provincial confirmation a claim holds only the claimant's department's part
(``part_claims``), so the other department claims, signs and bulk-signs its part on its own.
A claim already held there moves to the claimant's department's part.

Revision ID: h1_joint_part_claims
Revises: e6f8a0b2c4d5
Create Date: 2026-12-07 12:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h1_joint_part_claims"  # alembic allows no "-" in an id
down_revision = "e6f8a0b2c4d5"
branch_labels = None
depends_on = None

#: the department of each signing role (htsd_workflow.auth.roles.DEPARTMENT_OF_ROLE then)
DEPARTMENTS = {"education_reviewer": "education", "culture_reviewer": "culture"}


def upgrade():
    op.create_table(
        "part_claims",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_part_claims_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_part_claims_user_id_users")
        ),
        sa.PrimaryKeyConstraint("case_id", "part", name=op.f("pk_part_claims")),
    )
    op.create_index(op.f("ix_part_claims_user_id"), "part_claims", ["user_id"], unique=False)
    for role, department in DEPARTMENTS.items():
        op.execute(
            sa.text(
                "INSERT INTO part_claims (case_id, part, user_id, claimed_at) "
                "SELECT c.id, :department, c.claimed_by_id, COALESCE(c.claimed_at, c.stage_entered_at) "
                "FROM cases c JOIN users u ON u.id = c.claimed_by_id "
                "WHERE c.state = 'provincial_confirmation' AND u.role = :role"
            ).bindparams(department=department, role=role)
        )
    op.execute(
        "UPDATE cases SET claimed_by_id = NULL, claimed_at = NULL "
        "WHERE state = 'provincial_confirmation'"
    )


def downgrade():
    op.drop_index(op.f("ix_part_claims_user_id"), table_name="part_claims")
    op.drop_table("part_claims")
