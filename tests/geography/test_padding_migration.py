"""Codes stored without their leading zeros are padded by the migration, everywhere."""

from __future__ import annotations

from flask_migrate import upgrade
from sqlalchemy import text

from htsd_workflow import create_app
from htsd_workflow.extensions import db
from tests.core.test_migrations import empty_database  # noqa: F401  (fixture)

UNIT = (
    "INSERT INTO units (code, name, name_search, level, division_type, parent_code,"
    " province_code, district_code, is_dbkk, is_ethnic_minority)"
    " VALUES (:code, 'x', 'x', :level, '', :parent, '1', :district, false, false)"
)


def test_migration_pads_codes_and_their_references(empty_database, tmp_path):  # noqa: F811
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "INSTANCE_PATH": str(tmp_path)})
    with app.app_context():
        upgrade(revision="h2_scores_score_and_override")
        for code, level, parent, district in (
            ("1", "province", None, None),
            ("9", "district", "1", "9"),
            ("4", "commune", "9", "9"),
        ):
            db.session.execute(
                text(UNIT),
                {"code": code, "level": level, "parent": parent, "district": district},
            )
        db.session.execute(
            text("INSERT INTO dbkk_periods (unit_code, from_year) VALUES ('4', 2016)")
        )
        db.session.commit()
        upgrade()
        rows = db.session.execute(
            text("SELECT code, gso_code, parent_code, province_code, district_code FROM units")
        ).all()
        assert sorted(tuple(r) for r in rows) == [
            ("00004", "00004", "009", "01", "009"),
            ("009", "009", "01", "01", "009"),
            ("01", "01", None, "01", None),
        ]
        assert db.session.scalar(text("SELECT unit_code FROM dbkk_periods")) == "00004"
        db.session.remove()
        db.engine.dispose()
