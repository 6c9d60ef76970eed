"""The commune as an applicant: "Cộng đồng học tập cấp xã" from draft to recognised and the
decision, on the pages and through the API (TT 25/2023's indicators at levels)."""

from __future__ import annotations

import pytest
from flask import g
from sqlalchemy import select

from htsd_workflow.cases.models import Case
from htsd_workflow.core.errors import Conflict, InvalidInput
from htsd_workflow.decisions.models import Decision
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject
from htsd_workflow.subjects.operations import create_subject
from tests.clients import text
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT, PROVINCE

YEAR = 2026


def _met(case, met: set[str] | None = None) -> dict:
    """The assessment form with each indicator met (1) or not (0)."""
    data = {"version": str(case.version), "action": "send", "level_applied": "level1"}
    for item in db.session.scalars(select(Case).where(Case.id == case.id)).one().items:
        data[f"score-{item.code}"] = "1" if met is None or item.code in met else "0"
        data[f"evidence-{item.code}"] = f"Biên bản {item.code}"
    return data


def _sign(case_id, make, client_for):
    for role in ("education_reviewer", "culture_reviewer"):
        g.pop("_login_user", None)
        done = client_for(make.reviewer(role, PROVINCE)).post(
            f"/cases/{case_id}/actions", {"trigger": "sign"}
        )
        assert done.status_code in (302, 303), text(done)


def test_a_commune_applies_on_the_pages_and_the_district_decides(ctx, make, as_user):
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    offered = officer.get("/commune")
    assert offered.status_code == 200 and "Lập đối tượng của xã" in text(offered)
    made = officer.post("/commune")
    subject = db.session.scalar(select(Subject).where(Subject.kind == "commune"))
    assert subject.unit_code == COMMUNE and subject.name == "Phường Quang Trung"
    assert made.headers["Location"].endswith(f"/subjects/{subject.id}")
    # once per commune: the menu entry now leads to the commune's page
    assert officer.get("/commune").headers["Location"].endswith(f"/subjects/{subject.id}")
    page = text(officer.get(f"/subjects/{subject.id}"))
    assert "Cộng đồng học tập cấp xã" in page and "Lập hồ sơ của xã" in page
    started = officer.post(f"/subjects/{subject.id}/cases", {"year": str(YEAR)})
    case = db.session.scalar(select(Case).where(Case.subject_id == subject.id))
    assert started.headers["Location"].endswith(f"/cases/{case.id}/assessment")
    assert (case.title, case.criteria_set_id) == ("commune", "commune-tt25-2023")
    form = text(officer.get(f"/cases/{case.id}/assessment"))
    assert '<option value="1"' in form and "tối đa 1 điểm" not in form
    sent = officer.post(f"/cases/{case.id}/assessment", _met(case))
    assert sent.status_code == 302, text(sent)
    db.session.expire_all()
    # no commune review of its own dossier: straight to the district
    assert db.session.get(Case, case.id).state == "district_verification"
    g.pop("_login_user", None)
    district = as_user(make.reviewer("district_reviewer", DISTRICT))
    case_page = text(district.get(f"/cases/{case.id}"))
    assert "Đạt Mức độ 2 – Tốt" in case_page
    approved = district.post(
        f"/cases/{case.id}/actions",
        {"trigger": "approve", "version": str(db.session.get(Case, case.id).version)},
    )
    assert approved.status_code in (302, 303), text(approved)
    _sign(case.id, make, as_user)
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "recognized"
    # the decision: the district's (TT 25/2023), kept 36 months
    g.pop("_login_user", None)
    district = as_user(make.reviewer("district_reviewer", DISTRICT))
    drafted = district.post(
        "/decisions/new", {"title": "commune", "year": str(YEAR), "unit": DISTRICT}
    )
    assert drafted.status_code == 302, text(drafted)
    decision_id = int(drafted.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    g.pop("_login_user", None)
    manager = as_user(make.user("manager", DISTRICT))
    issued = manager.post(
        f"/decisions/{decision_id}/issue",
        {"number": "7", "date": "2026-12-20", "signer_name": "Nguyễn Văn A"},
    )
    assert issued.status_code == 302, text(issued)
    decision = db.session.get(Decision, decision_id)
    assert decision.status == "issued" and decision.valid_months == 36
    assert decision.body_name == "Phòng Giáo dục và Đào tạo Thành phố Kon Tum"
    shown = text(manager.get(f"/decisions/{decision_id}"))
    assert "Phường Quang Trung" in shown and "7/QĐ-PGDĐT" in shown
    # the decision lists the level each commune reached (TT 25/2023)
    assert "Mức độ đạt" in shown and "<td data-level>Mức độ 2 – Tốt</td>" in shown


def test_a_commune_applies_through_the_api_and_a_short_level_is_returned(ctx, make, api):
    officer = api(make.reviewer("commune_reviewer", COMMUNE))
    created = officer.post(
        "/subjects", json={"kind": "commune", "name": "Phường Quang Trung", "unit_code": COMMUNE}
    )
    assert created.status_code == 201 and created.json["kind"] == "commune"
    again = officer.post(
        "/subjects", json={"kind": "commune", "name": "Lần hai", "unit_code": COMMUNE}
    )
    assert again.status_code == 409 and "unit_code" in again.json["error"]["details"]
    subject_id = created.json["id"]
    case = officer.post("/cases", json={"subject_id": subject_id, "title": "commune", "year": YEAR})
    assert case.status_code == 201, case.json
    case = case.json
    assert case["assessment"]["kind"] == "levels"
    codes = [i["code"] for i in case["assessment"]["items"]]
    assert len(codes) == 15
    # level 1's indicators only
    level1 = {"1.1", "1.2", "2.1", "3.1", "4.1", "5.1"}
    items = [{"code": c, "score": 1 if c in level1 else 0, "evidence": "Có"} for c in codes]
    filled = officer.put(
        f"/cases/{case['id']}/assessment", json={"items": items, "level_applied": "level1"}
    ).json
    assert filled["assessment"]["level"] == {"code": "level1", "label": "Mức độ 1 – Khá"}
    sent = officer.post(
        f"/cases/{case['id']}/transitions", json={"trigger": "submit", "version": filled["version"]}
    )
    assert sent.status_code == 200 and sent.json["state"] == "district_verification"
    district = api(make.reviewer("district_reviewer", DISTRICT))
    current = district.get(f"/cases/{case['id']}").json
    moved = district.post(
        f"/cases/{case['id']}/transitions",
        json={"trigger": "approve", "version": current["version"]},
    )
    assert moved.json["state"] == "provincial_confirmation"
    for role in ("education_reviewer", "culture_reviewer"):
        signer = api(make.reviewer(role, PROVINCE))
        current = signer.get(f"/cases/{case['id']}").json
        signed = signer.post(
            f"/cases/{case['id']}/transitions",
            json={"trigger": "sign", "version": current["version"]},
        )
        assert signed.status_code == 200, signed.json
    assert signed.json["state"] == "recognized"
    drafted = district.post("/decisions", {"title": "commune", "year": YEAR, "unit_code": DISTRICT})
    assert drafted.status_code == 201, drafted.json
    assert [c["case_id"] for c in drafted.json["cases"]] == [case["id"]]
    issued = api(make.user("manager", DISTRICT)).post(
        f"/decisions/{drafted.json['id']}/issue",
        {"number": "8", "date": "2026-12-20", "signer_name": "Nguyễn Văn B"},
    )
    assert issued.status_code == 200 and issued.json["status"] == "issued", issued.json
    # a commune officer of another commune may not decide, nor a commune officer at all
    assert (
        api(make.reviewer("commune_reviewer", COMMUNE))
        .post("/decisions", {"title": "commune", "year": YEAR, "unit_code": COMMUNE})
        .status_code
        == 422
    )


def test_one_commune_subject_per_commune_and_only_at_a_commune(ctx, make):
    create_subject("commune", "Phường Quang Trung", COMMUNE)
    with pytest.raises(Conflict):
        create_subject("commune", "Phường Quang Trung (lần hai)", COMMUNE)
    with pytest.raises(InvalidInput):
        create_subject("commune", "Thành phố Kon Tum", DISTRICT)
    # another commune has its own
    assert create_subject("commune", "Phường khác", OTHER_COMMUNE_SAME_DISTRICT).id
    db.session.rollback()


def test_the_database_keeps_one_commune_subject_per_commune(ctx, make):
    from sqlalchemy.exc import IntegrityError

    create_subject("commune", "Phường Quang Trung", COMMUNE)
    db.session.add(
        Subject(
            kind="commune",
            name="Bản sao",
            name_search="ban sao",
            unit_code=COMMUNE,
            managing_level="commune",
            province_code=PROVINCE,
            district_code=DISTRICT,
            commune_code=COMMUNE,
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_commune_officers_are_told_what_an_applicant_is_told(ctx, make):
    from htsd_workflow.cases.engine import get_registry
    from htsd_workflow.cases.operations import fire_trigger, save_assessment, start_case
    from htsd_workflow.notifications.models import OutboxMessage
    from htsd_workflow.notifications.recipients import recipients

    subject = create_subject("commune", "Phường Quang Trung", COMMUNE)
    officer = make.reviewer("commune_reviewer", COMMUNE)
    elsewhere = make.reviewer("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT)
    case = start_case(subject.id, "commune", YEAR, officer)
    save_assessment(
        case.id,
        [{"code": i.code, "score": 1, "evidence": "x"} for i in case.items],
        officer,
        level_applied="level2",
    )
    fire_trigger(case.id, "submit", officer)
    fire_trigger(
        case.id,
        "return_to_applicant",
        make.reviewer("district_reviewer", DISTRICT),
        comment="Bổ sung minh chứng chỉ số 2.1",
    )
    db.session.commit()
    message = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == case.id, OutboxMessage.kind == "return_to_applicant"
        )
    ).one()
    told = recipients(message.kind, message.payload, case, get_registry().definition("commune"))
    assert officer.id in told and elsewhere.id not in told
