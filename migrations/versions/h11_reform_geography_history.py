"""geography with history: periods, structure, successions; codes zero-padded as GSO writes them

Units get ``gso_code`` (the official code), ``structure`` (three_tier/two_tier), ``valid_from``
/ ``valid_to`` and, for provinces, ``workflow_set``; ``unit_successions`` links old units to
their successors. Codes stored without their leading zeros (``vietnam-provinces`` gives numbers:
"1" for Hà Nội) are padded (province 2 digits, district 3, commune 5) everywhere they are kept.

Revision ID: h11_reform_geography_history
Revises: h7_decisions_decisions
Create Date: 2026-12-07 12:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "h11_reform_geography_history"
down_revision = "h7_decisions_decisions"
branch_labels = None
depends_on = None

WIDTH = {"province": 2, "district": 3, "commune": 5}
#: every column that holds a unit's code, besides units.code itself
CODE_COLUMNS = {
    "units": ("parent_code", "province_code", "district_code"),
    "dbkk_periods": ("unit_code",),
    "users": ("unit_code",),
    "subjects": ("unit_code", "province_code", "district_code", "commune_code"),
    "cases": ("province_code", "district_code", "commune_code"),
    "stage_visits": ("province_code", "district_code", "commune_code"),
    "audit_log": ("province_code",),
    "denominators": ("unit_code",),
    "stage_visit_months": ("province_code", "district_code"),
    "decisions": ("unit_code", "province_code", "district_code", "commune_code"),
}


def _pad_codes(bind):
    rows = bind.execute(sa.text("SELECT code, level FROM units")).all()
    renames = {c: c.zfill(WIDTH[lvl]) for c, lvl in rows if c.isdigit() and len(c) < WIDTH[lvl]}
    if not renames:
        return
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        # the units' foreign keys would refuse the renames one at a time
        bind.execute(sa.text("SET session_replication_role = replica"))
    else:
        bind.execute(sa.text("PRAGMA defer_foreign_keys = ON"))
    try:
        for old, new in renames.items():
            for table, columns in CODE_COLUMNS.items():
                for column in columns:
                    bind.execute(
                        sa.text(f"UPDATE {table} SET {column} = :new WHERE {column} = :old"),
                        {"old": old, "new": new},
                    )
            bind.execute(
                sa.text("UPDATE units SET code = :new, gso_code = :new WHERE code = :old"),
                {"old": old, "new": new},
            )
    finally:
        if postgres:
            bind.execute(sa.text("SET session_replication_role = origin"))


def upgrade():
    with op.batch_alter_table("units") as batch_op:
        batch_op.add_column(sa.Column("gso_code", sa.String(10), nullable=True))
        batch_op.add_column(
            sa.Column("structure", sa.String(10), nullable=False, server_default="three_tier")
        )
        batch_op.add_column(sa.Column("valid_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("valid_to", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("workflow_set", sa.String(20), nullable=True))
        batch_op.create_index("ix_units_gso_code", ["gso_code"])
    op.execute("UPDATE units SET gso_code = code")
    _pad_codes(op.get_bind())
    op.create_table(
        "unit_successions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("predecessor_code", sa.String(10), sa.ForeignKey("units.code"), nullable=False),
        sa.Column("successor_code", sa.String(10), sa.ForeignKey("units.code"), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("share", sa.Float(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("predecessor_code", "successor_code"),
    )
    op.create_index(
        "ix_unit_successions_predecessor_code", "unit_successions", ["predecessor_code"]
    )
    op.create_index("ix_unit_successions_successor_code", "unit_successions", ["successor_code"])


def downgrade():
    op.drop_table("unit_successions")
    with op.batch_alter_table("units") as batch_op:
        batch_op.drop_index("ix_units_gso_code")
        for column in ("workflow_set", "valid_to", "valid_from", "structure", "gso_code"):
            batch_op.drop_column(column)
