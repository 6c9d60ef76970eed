"""Names sort in Vietnamese order (UCA with the Vietnamese tailoring), in Python and in SQL on
both databases, and the pages that list names show them so."""

from __future__ import annotations

import re

from sqlalchemy import select

from htsd_workflow.core.collation import collated, sort_key
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject
from tests.reports.test_reports import login

#: the expected Vietnamese order: base letters a < ă < â, d < đ, o < ô < ơ, u < ư, the tones
#: (none, grave, hook, tilde, acute, dot below) weigh less than the letters, and "Đắk" comes
#: after every "D…" and before "E…", never after "Vinh Quang"
TRICKY = [
    "Anh",
    "Ăn",
    "Ân",
    "Da",
    "Dương",
    "Đắk Hà",
    "Đăk Tô",
    "Ea Súp",
    "On",
    "Ôn",
    "Ơn",
    "ta",
    "tà",
    "tả",
    "tã",
    "tá",
    "tạ",
    "Ung",
    "Uyên",
    "Ưng",
    "Vinh Quang",
]


def _shuffled(names):
    return names[1::2][::-1] + names[::2]


def test_python_sort_key_is_vietnamese_order():
    assert sorted(_shuffled(TRICKY), key=sort_key) == TRICKY
    # plain code-point order, what the pages used before, puts "Đ…" after "V…"
    assert sorted(TRICKY).index("Đắk Hà") > sorted(TRICKY).index("Vinh Quang")
    # decomposed input (as typed on some keyboards) sorts as its composed form
    assert sort_key("Đa\u0306\u0301k") == sort_key("Đắk")
    assert sort_key(None) == sort_key("") == b""


def test_sql_order_by_collated_is_the_same_order(ctx, make):
    for name in _shuffled(TRICKY):
        make.subject("family", name=name)
    names = db.session.scalars(
        select(Subject.name).where(Subject.name.in_(TRICKY)).order_by(collated(Subject.name))
    ).all()
    assert names == TRICKY


def test_search_lists_names_in_vietnamese_order(ctx, client, make):
    wanted = ["Hộ Dương", "Hộ Đắk Hà", "Hộ Ea Súp", "Hộ Vinh Quang"]
    for name in _shuffled(wanted):
        make.subject("family", name=name)
    login(client, make.user("commune_reviewer"))
    page = client.get("/search?q=ho").get_data(as_text=True)
    shown = [name for name in re.findall(r"Hộ [^<]+", page) if name in wanted]
    assert list(dict.fromkeys(shown)) == wanted


def test_report_unit_picker_lists_units_in_vietnamese_order(ctx, client, make):
    login(client, make.user("manager", "62"))
    page = client.get("/reports/targets").get_data(as_text=True)
    picker = re.search(r'<select name="unit">.*?</select>', page, re.S).group(0)
    districts = re.findall(r'<optgroup label="([^"]+)">', picker)
    assert len(districts) > 3
    assert districts == sorted(districts, key=sort_key)
    assert any(d.split(" ", 1)[-1].startswith(("Đăk", "Đắk")) for d in districts)
