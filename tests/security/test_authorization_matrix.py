"""Every route × every role × in-territory / out-of-territory objects.

Routes come from the URL map, so a new route cannot be forgotten: a route without a declared
access rule fails, and so does a route parameter this test does not know how to fill. Canary
records are planted in another district; their names must appear in no response.
"""

from __future__ import annotations

import html
import io

import pytest
from flask import Flask, g
from openpyxl import load_workbook

from htsd_workflow.api.framework import issue_token
from htsd_workflow.auth.roles import ROLES
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.factories import COMMUNE, COMMUNE_IN_OTHER_DISTRICT, DISTRICT, OTHER_DISTRICT

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CANARY = "Canary Zqx Huyện Khác"
FAR_CANARY = "Canary Zqx Tỉnh Khác"
OTHER_PROVINCE = "64"
OTHER_PROVINCE_COMMUNE = "23557"
PROVINCE_WIDE = ("province_officer", "education_reviewer", "culture_reviewer", "admin")
#: the unit each role is bound to for this matrix (all inside district 608)
ROLE_UNIT = {
    "commune_reviewer": COMMUNE,
    "district_reviewer": DISTRICT,
    "manager": DISTRICT,
}
#: endpoints that are deliberately public (no sign-in): the test still checks canaries
SKIP_ENDPOINTS = {"static"}
#: routes that must not be walked with GET (they stream large files or end the session)
NOT_WALKED = {"auth.logout", "imports.template"}  # (the template is a binary XLSX, no data)
#: list and search pages, also walked with a query naming the canary
SEARCHABLE = {
    "queues.search",
    "queues.queue",
    "dashboard.overview",
    "admin.users",
    "api.list_cases",
    "api.list_subjects",
    "api.list_notifications",
}


def routes(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in SKIP_ENDPOINTS:
            continue
        yield rule


def test_every_route_declares_an_access_rule(app):
    missing = [
        rule.rule
        for rule in routes(app)
        if getattr(app.view_functions[rule.endpoint], "access_rule", None) is None
    ]
    assert not missing, f"routes without an access rule: {missing}"


@pytest.fixture
def world(ctx, make):
    """Cases at every stage inside district 608, and canaries in district 615."""
    own = {}
    for state in ("draft", "commune_review", "district_verification", "provincial_confirmation"):
        own[state] = make.case_in(state, unit=COMMUNE)
    canary_case, canary_applicant = make.case_in(
        "district_verification", unit=COMMUNE_IN_OTHER_DISTRICT, name=CANARY
    )
    # province-wide roles get their canary in another province (Gia Lai, 64)
    import_province("64")
    far_case, _ = make.case_in(
        "district_verification", unit=OTHER_PROVINCE_COMMUNE, name=FAR_CANARY
    )
    canary_subject = canary_case.subject
    users = {}
    for role in ROLES:
        if role == "applicant":
            users[role] = own["commune_review"][1]
        elif role == "village_head":
            village = make.subject("community", COMMUNE, name="Thôn Ma Trận")
            users[role] = make.user(role, subject_id=village.id)
        else:
            users[role] = make.user(role, ROLE_UNIT.get(role, "62"))
    db.session.commit()
    return {
        "own_case": own["commune_review"][0],
        "canary_case": canary_case,
        "far_case": far_case,
        "canary_subject": canary_subject,
        "canary_applicant": canary_applicant,
        "users": users,
    }


def fill(rule, world, *, canary: bool, far: bool = False):
    """Values for a route's parameters pointing at canary (other territory) objects or own."""
    case = world["far_case" if far else "canary_case"] if canary else world["own_case"]
    values = {}
    for name in rule.arguments:
        if name in ("case_id", "id"):
            values[name] = case.id
        elif name in ("subject_id", "village_id"):
            values[name] = case.subject_id
        elif name in ("code", "unit_code"):
            values[name] = (OTHER_PROVINCE if far else OTHER_DISTRICT) if canary else DISTRICT
        elif name == "commune_code":
            values[name] = (
                (OTHER_PROVINCE_COMMUNE if far else COMMUNE_IN_OTHER_DISTRICT)
                if canary
                else COMMUNE
            )
        elif name == "year":
            values[name] = 2026
        elif name == "user_id":
            values[name] = world["canary_applicant"].id if canary else world["users"]["admin"].id
        elif name in ("attachment_id", "job_id", "decision_id", "round_id"):
            values[name] = 1  # none exist: the page must refuse cleanly, never a 500
        elif name == "kind":
            values[name] = "households"
        elif name == "set_id":
            values[name] = "family-2021"
        elif name in ("filename", "path"):
            values[name] = "x"
        else:
            pytest.fail(f"{rule.rule}: the matrix does not know how to fill <{name}>")
    return values


def _text(response) -> str:
    """The response as text; a spreadsheet (a downloadable template) by its cells."""
    if response.mimetype == XLSX:
        book = load_workbook(io.BytesIO(response.data), read_only=True)
        return "\n".join(
            str(value)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        )
    return response.get_data(as_text=True)


def login(client, user):
    g.pop("_login_user", None)  # the app context outlives requests in these tests
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


@pytest.mark.parametrize("role", ROLES)
def test_no_route_shows_another_territorys_canary(app, world, client, role):
    user = world["users"][role]
    far = role in PROVINCE_WIDE  # they may see every district: their canary is in Gia Lai
    login(client, user)
    user.must_change_password = False
    token, _ = issue_token(user)  # the API's routes are walked with the same user's token
    db.session.commit()
    leaks = []
    for rule in routes(app):
        if "GET" not in rule.methods or rule.endpoint in NOT_WALKED:
            continue
        values = fill(rule, world, canary=True, far=far)
        url = app.url_map.bind("localhost").build(rule.endpoint, values)
        if rule.endpoint in SEARCHABLE:  # list pages: ask for the canary by name
            url += "?q=Canary+Zqx&state=district_verification"
        response = client.get(url, headers={"Authorization": f"Bearer {token}"})
        body = _text(response)
        # the query itself is echoed in the search box; the full name must not appear
        names = (FAR_CANARY,) if far else (CANARY, FAR_CANARY)
        if any(name in html.unescape(body) for name in names):
            leaks.append((url, response.status_code))
        if rule.endpoint != "readyz":  # 503 there means "not ready" (tests skip migrations)
            assert response.status_code < 500, (url, response.status_code)
    assert not leaks, f"{role} saw another territory's canary at {leaks}"
