"""The main menu shows each role exactly the pages that role may open.

The menu is built from each page's declared access; this test does not read those rules: it
opens every page as every role and compares what answers with what the rendered menu links to.
"""

from __future__ import annotations

import re

import pytest

from htsd_workflow.auth.roles import ROLES
from htsd_workflow.extensions import db

#: signed-in pages without parameters that are reached from another page, not from the menu
NOT_IN_MENU = {
    "admin.new_user": "the Users page links to it",
    "reports.bottleneck_trend": "the Bottlenecks page links to it",
    "reports.denominators_template": "a spreadsheet to download from the Denominators page",
    "imports.slips": "the Imports page links to it",
    "decisions.lists": "the Decisions page and the reports' recognised counts link to it",
}
_NAV = re.compile(r'<nav class="main".*?</nav>', re.S)
_HREF = re.compile(r'href="([^"]+)"')


def menu_pages(app) -> set[str]:
    """Every page a signed-in person could open from a menu: a GET route of the site (not the
    API) without parameters and without public access, less those reached from other pages."""
    pages = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        rule_of_view = getattr(view, "access_rule", None)
        if (
            "GET" in rule.methods
            and not rule.arguments
            and not rule.endpoint.startswith("api.")
            and rule.endpoint != "static"
            and rule_of_view is not None
            and not rule_of_view.public
            and rule.endpoint not in NOT_IN_MENU
        ):
            pages.add(rule.endpoint)
    return pages


@pytest.mark.parametrize("role", ROLES)
def test_the_menu_shows_exactly_the_pages_the_role_may_open(app, as_user, make, role):
    subject_id = {
        "applicant": lambda: make.subject().id,
        "village_head": lambda: make.subject("community").id,
    }.get(role, lambda: None)()
    user = make.user(role, subject_id=subject_id)
    user.must_change_password = False
    db.session.commit()
    browser = as_user(user)
    urls = app.url_map.bind("localhost")

    page = browser.get("/account/password")
    assert page.status_code == 200
    nav = _NAV.search(page.get_data(as_text=True)).group(0)
    shown = [urls.match(href, method="GET")[0] for href in _HREF.findall(nav)]
    assert len(shown) == len(set(shown)), shown

    pages = menu_pages(app)
    opens = set()
    for endpoint in sorted(pages):
        response = browser.get(urls.build(endpoint))
        assert response.status_code < 500, (endpoint, response.status_code)
        if response.status_code != 403:
            assert response.status_code == 200, (endpoint, response.status_code)
            opens.add(endpoint)
    assert set(shown) <= pages, "the menu links to a page this test does not open"
    assert set(shown) == opens, (
        f"{role}: in the menu but refused {set(shown) - opens}; "
        f"opens but missing from the menu {opens - set(shown)}"
    )
