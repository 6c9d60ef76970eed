"""audit log: the province an entry belongs to

Revision ID: ae1d17a0b9c3
Revises: 7e1a0b2c4d91
Create Date: 2026-11-29 02:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "ae1d17a0b9c3"
down_revision = "7e1a0b2c4d91"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("province_code", sa.String(length=10), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_audit_log_province_code"), ["province_code"], unique=False
        )


def downgrade():
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_province_code"))
        batch_op.drop_column("province_code")
