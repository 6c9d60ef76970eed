"""The page (and the API) where a province officer places a split commune's subjects under
one of its successors after `geo reform`: declared access, territory, bad input, repeats."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from htsd_workflow.api.framework import issue_token
from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.cases.models import Case, CaseEvent
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit, UnitSuccession
from htsd_workflow.geography.operations import import_province
from htsd_workflow.subjects.models import Subject
from tests.clients import Browser
from tests.factories import Factory

TRA_BUI = "21142"  # old Xã Trà Bui (Trà Bồng), split between two new communes
PAGE = "/reform/subjects"
API = "/api/v1/reform/subjects"


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def split(fresh):
    """Old Quảng Ngãi carried into today's: Trà Bui's household with a running case, a clan and
    a second household left for an officer; accounts of every role that might try."""
    assert run(fresh, "geo", "import", "--province", "51", "--before-2025").exit_code == 0
    make = Factory()
    case, applicant = make.case_in("commune_review", unit=TRA_BUI, name="Hộ Hồ Văn Bình")
    clan = make.subject("clan", TRA_BUI, name="Dòng họ Hồ Trà Bui")
    other = make.subject("family", TRA_BUI, name="Hộ Đinh Thị Lan")
    result = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert result.exit_code == 0, result.output
    assert "cần cán bộ chỉ định xã mới: 3" in result.output
    successors = db.session.execute(
        select(UnitSuccession.successor_code, UnitSuccession.is_default)
        .where(UnitSuccession.predecessor_code == TRA_BUI)
        .order_by(UnitSuccession.is_default.desc())
    ).all()
    assert len(successors) == 2
    import_province("01")  # another province, for its officer
    users = {
        "admin": make.user("admin", "51"),
        "province_officer": make.user("province_officer", "51"),
        "manager": make.user("manager", "51"),
        "education_reviewer": make.user("education_reviewer", "51"),
        "commune_reviewer": make.user("commune_reviewer", successors[0][0]),
        "applicant": applicant,
        "other_officer": make.user("province_officer", "01"),
    }
    db.session.commit()
    return {
        "case": case.id,
        "household": case.subject_id,
        "clan": clan.id,
        "other": other.id,
        "default": successors[0][0],
        "second": successors[1][0],
        "users": users,
    }


def browser(app, user) -> Browser:
    return Browser(app.test_client()).login(user)


def subject_unit(subject_id: int) -> str:
    db.session.expire_all()
    return db.session.get(Subject, subject_id).unit_code


def counts() -> tuple:
    db.session.expire_all()
    return (
        sorted(db.session.execute(select(Subject.id, Subject.unit_code)).all()),
        db.session.scalar(select(func.count()).select_from(CaseEvent)),
        db.session.scalar(select(func.count()).select_from(AuditEntry)),
    )


def test_only_province_officers_and_admins_open_the_page(fresh, split):
    names = ("Hộ Hồ Văn Bình", "Dòng họ Hồ Trà Bui", "Hộ Đinh Thị Lan")
    for role, user in split["users"].items():
        page = browser(fresh, user).get(PAGE)
        if role in ("admin", "province_officer"):
            assert page.status_code == 200, role
            assert all(name in page.text for name in names)
            # both successors are offered, the official default named as such
            assert page.text.count(f'value="{split["default"]}"') == 4  # 3 rows and the bulk
            assert "xã mặc định theo bảng chuyển đổi chính thức" in page.text
        elif role == "other_officer":
            assert page.status_code == 200  # another province's officer sees none of them
            assert not any(name in page.text for name in names)
        else:
            assert page.status_code == 403, role
    signed_out = Browser(fresh.test_client()).get(PAGE)
    assert signed_out.status_code == 302  # to the sign-in page


def test_officer_assigns_one_by_one_and_in_bulk_with_an_audit_entry(fresh, split):
    officer = split["users"]["province_officer"]
    client = browser(fresh, officer)
    # the household (with its running case) to the second successor, the others ticked together
    answer = client.post(
        PAGE,
        {
            f"unit-{split['household']}": split["second"],
            "subject": [str(split["clan"]), str(split["other"])],
            f"bulk-{TRA_BUI}": split["default"],
        },
    )
    assert answer.status_code == 302
    assert "3 đối tượng" in client.get(PAGE).text  # the notice after the redirect
    assert subject_unit(split["household"]) == split["second"]
    assert subject_unit(split["clan"]) == split["default"]
    assert subject_unit(split["other"]) == split["default"]
    case = db.session.get(Case, split["case"])
    assert (case.workflow, case.state, case.commune_code) == (
        "two_tier/family",
        "commune_review",
        split["second"],
    )
    audit = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "subject_assigned").order_by(AuditEntry.id)
    ).all()
    assert [a.target for a in audit] == [
        f"subject:{split['household']}",
        f"subject:{split['clan']}",
        f"subject:{split['other']}",
    ]
    assert audit[0].actor_id == officer.id
    assert audit[0].details == {"from": TRA_BUI, "to": split["second"], "cases": 1}
    page = client.get(PAGE)
    assert "Không còn đối tượng nào" in page.text

    # the same form sent again (a double click, a reload): nothing changes
    before = counts()
    again = client.post(PAGE, {f"unit-{split['household']}": split["second"]})
    assert again.status_code == 302
    assert counts() == before
    # another officer chose otherwise meanwhile: a conflict, nothing changes
    late = client.post(PAGE, {f"unit-{split['household']}": split["default"]})
    assert late.status_code == 409
    assert counts() == before


@pytest.mark.parametrize(
    "form",
    [
        {"unit-{household}": "{outside}"},  # a unit that is not one of its successors
        {"unit-{household}": "21142"},  # the old commune itself
        {"subject": ["{household}"]},  # ticked, no commune chosen
        {"subject": ["abc"]},
        {"unit-abc": "{default}"},
        {"unit-{household}": "x" * 200},
        {},  # nothing chosen
    ],
)
def test_bad_input_is_refused_and_changes_nothing(fresh, split, form):
    outside = db.session.scalar(
        select(Unit.code).where(Unit.province_code == "51", Unit.valid_to.is_(None)).limit(1)
    )
    values = {"household": split["household"], "default": split["default"], "outside": outside}

    def fill(value):
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value.format(**values)

    data = {fill(k): fill(v) for k, v in form.items()}
    # a valid choice beside the bad one must not be applied either (all or none)
    if data:
        data.setdefault(f"unit-{split['clan']}", split["default"])
    before = counts()
    answer = browser(fresh, split["users"]["admin"]).post(PAGE, data)
    assert answer.status_code == 422, answer.text
    assert counts() == before


def test_outside_the_territory_is_not_found_and_without_csrf_refused(fresh, split):
    before = counts()
    other = browser(fresh, split["users"]["other_officer"])
    answer = other.post(PAGE, {f"unit-{split['household']}": split["default"]})
    assert answer.status_code == 404
    assert "Hộ Hồ Văn Bình" not in answer.text
    admin = browser(fresh, split["users"]["admin"])
    forged = admin.post(PAGE, {f"unit-{split['household']}": split["default"], "csrf_token": "x"})
    assert forged.status_code == 400
    assert counts() == before


def test_the_api_lists_and_assigns_the_same(fresh, split):
    officer = split["users"]["province_officer"]
    token, _row = issue_token(officer)
    db.session.commit()
    client = fresh.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    listed = client.get(API, headers=headers)
    assert listed.status_code == 200
    items = {i["subject_id"]: i for i in listed.json["items"]}
    assert set(items) == {split["household"], split["clan"], split["other"]}
    household = items[split["household"]]
    assert household["old_unit"]["code"] == TRA_BUI and household["running_cases"] == 1
    assert {c["code"] for c in household["candidates"]} == {split["default"], split["second"]}
    assert [c["is_default"] for c in household["candidates"] if c["code"] == split["default"]] == [
        True
    ]

    body = {"assignments": [{"subject_id": split["household"], "unit_code": split["second"]}]}
    assert client.post(API, json=body, headers=headers).json == {"moved": 1}
    before = counts()
    assert client.post(API, json=body, headers=headers).json == {"moved": 0}  # a repeat
    assert counts() == before
    bad = {"assignments": [{"subject_id": split["clan"], "unit_code": "21142"}]}
    assert client.post(API, json=bad, headers=headers).status_code == 422
    assert client.post(API, json={"assignments": []}, headers=headers).status_code == 422
    assert client.post(API, json={"x": 1}, headers=headers).status_code == 422
    assert counts() == before
    manager, _row = issue_token(split["users"]["manager"])
    db.session.commit()
    assert client.get(API, headers={"Authorization": f"Bearer {manager}"}).status_code == 403
    other, _row = issue_token(split["users"]["other_officer"])
    db.session.commit()
    other_headers = {"Authorization": f"Bearer {other}"}
    assert client.get(API, headers=other_headers).json == {"items": []}
    move = {"assignments": [{"subject_id": split["clan"], "unit_code": split["default"]}]}
    assert client.post(API, json=move, headers=other_headers).status_code == 404
    assert counts() == before
