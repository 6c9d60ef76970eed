"""cases: village meetings (bình xét) and their votes per household

Revision ID: h13_round_village_meetings
Revises: h11_reform_geography_history
Create Date: 2026-12-07 13:20:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "h13_round_village_meetings"  # alembic allows no "-" in an id
down_revision = "h11_reform_geography_history"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "village_meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("village_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("chair", sa.String(length=200), nullable=False),
        sa.Column("secretary", sa.String(length=200), nullable=False),
        sa.Column("attendance", sa.Integer(), nullable=False),
        sa.Column("minutes_path", sa.String(length=500), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["recorded_by_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["round_id"], ["rounds.id"]),
        sa.ForeignKeyConstraint(["village_id"], ["subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("village_id", "round_id"),
    )
    op.create_index("ix_village_meetings_village_id", "village_meetings", ["village_id"])
    op.create_table(
        "village_meeting_votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("votes_for", sa.Integer(), nullable=False),
        sa.Column("present", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["meeting_id"], ["village_meetings.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("meeting_id", "subject_id"),
    )
    op.create_index("ix_village_meeting_votes_meeting_id", "village_meeting_votes", ["meeting_id"])
    op.create_index("ix_village_meeting_votes_subject_id", "village_meeting_votes", ["subject_id"])


def downgrade():
    op.drop_table("village_meeting_votes")
    op.drop_table("village_meetings")
