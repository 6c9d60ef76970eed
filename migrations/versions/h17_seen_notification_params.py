"""notifications: what a message says in no language (params), rendered in the reader's

Messages stored before keep params NULL and show the text they were sent with.

Revision ID: h17_seen_notification_params
Revises: h20_commune_subject_once
Create Date: 2026-12-07 15:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h17_seen_notification_params"
down_revision = "h20_commune_subject_once"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("params", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("params")
