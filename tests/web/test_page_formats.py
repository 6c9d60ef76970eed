"""The cached page helpers give what the slow paths they replace give: dates as strftime,
points as Babel, deadline texts as Flask-Babel's ngettext, links as url_for, the templates'
_() as Flask-Babel's, the main menu as made afresh — in Vietnamese and in English."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from flask import render_template_string, url_for
from flask_babel import force_locale, format_decimal, get_translations, gettext, ngettext
from flask_login import login_user
from hypothesis import given, settings
from hypothesis import strategies as st

from htsd_workflow import create_app
from htsd_workflow.auth.models import User
from htsd_workflow.core.calendar import WorkingCalendar
from htsd_workflow.core.pages import (
    UrlPattern,
    due_status,
    due_text,
    format_moment,
    format_points,
)
from htsd_workflow.core.text import MAX_ID
from htsd_workflow.core.time import to_local
from htsd_workflow.web import _nav_items, nav_items

LANGUAGES = ("vi", "en")
CALENDAR = WorkingCalendar()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """The app (no database needed) with its translations."""
    instance = tmp_path_factory.mktemp("instance-formats")
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'unused.sqlite'}",
            "SECRET_KEY": "test-secret",
            "INSTANCE_PATH": str(instance),
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )


moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 30))


@settings(deadline=None)
@given(moment=moments, with_time=st.booleans())
def test_format_moment_is_strftime_of_the_local_time(moment, with_time):
    expected = to_local(moment).strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")
    assert format_moment(moment, with_time) == expected


def test_format_moment_of_nothing_is_empty():
    assert format_moment(None) == "" and format_moment(None, False) == ""


points = st.one_of(
    st.floats(min_value=-1e7, max_value=1e7, allow_nan=False),
    st.decimals(min_value=-(10**7), max_value=10**7, places=3, allow_nan=False),
    st.integers(min_value=-(10**7), max_value=10**7),
    st.sampled_from([0.0, -0.0, 9.5, Decimal("9.50"), 1234.5, 0.125, 0.005, 87.25, 100]),
)


@settings(max_examples=300, deadline=None)
@given(value=points, language=st.sampled_from(LANGUAGES))
def test_cached_points_are_babels_format_in_each_language(app, value, language):
    with app.test_request_context("/"), force_locale(language):
        expected = format_decimal(value, format="#,##0.##")
        assert format_points(value) == expected
        assert format_points(value) == expected  # from the cache
        assert format_points(value, language) == expected


def test_points_keep_their_language_and_the_dash_for_nothing(app):
    with app.test_request_context("/"):
        with force_locale("vi"):
            assert format_points(1234.5) == "1.234,5"
            assert format_points(None) == "–"
        with force_locale("en"):
            assert format_points(1234.5) == "1,234.5"


@pytest.mark.parametrize("language", LANGUAGES)
def test_due_texts_are_flask_babels_ngettext(app, language):
    with app.test_request_context("/"), force_locale(language):
        for days in [*range(0, 40), 99, 100, 101, 1000]:
            late = ngettext("Quá hạn %(num)s ngày làm việc", "Quá hạn %(num)s ngày làm việc", days)
            left = ngettext("Còn %(num)s ngày làm việc", "Còn %(num)s ngày làm việc", days)
            if days == 0:
                left = gettext("Đến hạn hôm nay")
            for _twice in range(2):
                assert due_text(True, days) == late
                assert due_text(False, days) == left
                assert due_text(True, days, get_translations()) == late


def test_due_texts_in_english_are_the_translations(app):
    with app.test_request_context("/"), force_locale("en"):
        assert due_text(True, 1) == "Overdue by 1 working day"
        assert due_text(True, 4) == "Overdue by 4 working days"
        assert due_text(False, 1) == "1 working day left"
        assert due_text(False, 0) == "Due today"
    with app.test_request_context("/"), force_locale("vi"):
        assert due_text(False, 10) == "Còn 10 ngày làm việc"


def test_due_text_outside_a_request_is_vietnamese_and_not_kept():
    from htsd_workflow.core import pages

    before = len(pages._DUE_TEXTS)
    assert due_text(True, 3) == "Quá hạn 3 ngày làm việc"
    assert len(pages._DUE_TEXTS) == before


@settings(max_examples=200, deadline=None)
@given(
    due=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
    offset=st.integers(min_value=-400 * 24, max_value=400 * 24),
    language=st.sampled_from(LANGUAGES),
)
def test_due_status_with_the_page_s_translations_and_calendar_is_the_same(
    app, due, offset, language
):
    now = due + timedelta(hours=offset)
    calendar = CALENDAR
    with app.test_request_context("/"), force_locale(language):
        expected = due_status(due, now, calendar=calendar)
        assert due_status(due, now, get_translations(), calendar) == expected
        days = expected["days"]
        if now > due:
            assert expected == {
                "overdue": True,
                "days": calendar.working_days_late(due, now),
                "text": ngettext(
                    "Quá hạn %(num)s ngày làm việc", "Quá hạn %(num)s ngày làm việc", days
                ),
            }
        else:
            assert expected == {
                "overdue": False,
                "days": calendar.working_days_left(due, now),
                "soon": days <= 2,
                "text": gettext("Đến hạn hôm nay")
                if days == 0
                else ngettext("Còn %(num)s ngày làm việc", "Còn %(num)s ngày làm việc", days),
            }


@settings(max_examples=300, deadline=None)
@given(
    number=st.one_of(st.integers(min_value=0, max_value=MAX_ID), st.integers(0, 10**6)),
    back=st.text(max_size=40),
    root=st.sampled_from(["", "/htsd"]),
)
def test_url_patterns_build_what_url_for_builds(app, number, back, root):
    with app.test_request_context("/queue", base_url=f"http://example.org{root}/"):
        show = UrlPattern("cases.show", "case_id", back=back)
        assert show(number) == url_for("cases.show", case_id=number, back=back)
        for endpoint in ("cases.claim", "cases.release"):
            assert UrlPattern(endpoint, "case_id")(number) == url_for(endpoint, case_id=number)


def test_a_url_pattern_refuses_a_url_where_its_marker_is_not_alone(app):
    with app.test_request_context("/"), pytest.raises(ValueError):
        UrlPattern("cases.show", "case_id", back=f"/x{UrlPattern.MARKER}")


TEMPLATE = (
    '{{ _("Hạn") }}|{{ _("Hơn %(num)s hồ sơ", num=count) }}|{{ _("Không có nhãn này") }}'
    "|{{ ngettext('Quá hạn %(num)s ngày làm việc', 'Quá hạn %(num)s ngày làm việc', days) }}"
)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("count", [5, "<b>&"])
def test_templates_translate_as_flask_babel_does(app, language, count):
    with app.test_request_context("/"), force_locale(language):
        # the environment's callables are Flask-Babel's; the page context binds its own
        flask_babel_s = app.jinja_env.from_string(TEMPLATE).render(count=count, days=4)
        ours = render_template_string(TEMPLATE, count=count, days=4)
    assert ours == flask_babel_s
    assert "&lt;b&gt;&amp;" in ours if count != 5 else "5" in ours
    assert ours.startswith("Due|More than") if language == "en" else ours.startswith("Hạn|Hơn")


@pytest.mark.parametrize(
    "role",
    [
        "applicant",
        "commune_reviewer",
        "district_reviewer",
        "education_reviewer",
        "province_officer",
        "manager",
        "admin",
    ],
)
def test_the_cached_main_menu_is_the_menu_made_afresh(app, role):
    user = User(id=7, username="u", role=role, is_active_user=True, session_token="t")
    menus = {}
    for language in LANGUAGES:
        with app.test_request_context("/"), force_locale(language):
            login_user(user)
            expected = _nav_items(role)
            assert nav_items() == expected
            assert nav_items() is nav_items()  # made once
            menus[language] = expected
        mounted = app.test_request_context("/", base_url="http://example.org/htsd/")
        with mounted, force_locale(language):
            login_user(user)
            assert all(url.startswith("/htsd/") for _e, _l, url in nav_items())
    assert menus["vi"] != menus["en"]
    with app.test_request_context("/"):
        assert nav_items() == ()
