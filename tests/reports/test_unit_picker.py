"""Report filters choose a district or commune by name, among the viewer's own units."""

from __future__ import annotations

import re

from sqlalchemy import select

from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.operations import import_province
from tests.factories import COMMUNE, DISTRICT
from tests.reports.test_report_words import CITY, _page
from tests.reports.test_reports import login

_PICKER = re.compile(r'<select name="unit">.*?</select>', re.S)


def _options(page: str) -> dict[str, str]:
    picker = _PICKER.search(page)
    assert picker, "no unit list on the page"
    return dict(re.findall(r'<option value="(\d*)"[^>]*>([^<]*)</option>', picker.group(0)))


def test_report_filters_list_the_viewers_units_by_name(ctx, client, make):
    import_province("64")  # another province: none of its units may be offered
    far = set(db.session.scalars(select(Unit.code).where(Unit.province_code == "64")))
    province = make.user("manager", "62")
    login(client, province)
    for url in ("/reports/bottlenecks", "/reports/targets"):
        page = _page(client, url)
        assert "Mã huyện/xã" not in page
        options = _options(page)
        assert options[DISTRICT].startswith(CITY)
        assert options[COMMUNE] == "Phường Quang Trung"
        assert far and not far & set(options)
    page = _page(client, f"/reports/bottlenecks?unit={COMMUNE}")
    assert f'<option value="{COMMUNE}" selected>' in page

    district = make.user("manager", DISTRICT)
    login(client, district)
    options = _options(_page(client, "/reports/targets"))
    assert COMMUNE in options
    theirs = set(db.session.scalars(select(Unit.code).where(Unit.district_code == DISTRICT)))
    assert set(options) - {""} <= theirs
