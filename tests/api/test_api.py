"""Each endpoint's happy path and refusals, through a real token."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from htsd_workflow.auth.models import ApiToken
from htsd_workflow.auth.operations import set_password
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.notifications.models import OutboxMessage
from htsd_workflow.notifications.recipients import recipients
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT, PROVINCE


def test_token_me_and_revocation(ctx, api, make):
    user = make.reviewer("commune_reviewer", COMMUNE)
    anonymous = api()
    wrong = anonymous.post("/auth/token", json={"username": user.username, "password": "x"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "unauthorized"
    assert anonymous.post("/auth/token", json={"username": user.username}).status_code == 422
    assert anonymous.get("/me").status_code == 401
    client = api(user)
    me = client.get("/me").json
    assert me["role"] == "commune_reviewer" and me["unit_code"] == COMMUNE
    assert client.delete("/auth/token").status_code == 200
    assert client.get("/me").status_code == 401  # revoked


def test_admin_revokes_a_users_tokens(ctx, api, make):
    user = make.reviewer("commune_reviewer", COMMUNE)
    client = api(user)
    admin = api(make.user("admin", PROVINCE))
    assert api(user).delete(f"/users/{user.id}/tokens").status_code == 403
    assert admin.delete(f"/users/{user.id}/tokens").status_code == 200
    assert client.get("/me").status_code == 401
    assert db.session.query(ApiToken).filter(ApiToken.revoked_at.is_(None)).count() == 1


def test_units_and_children(ctx, api, make):
    client = api(make.reviewer("commune_reviewer", COMMUNE))
    assert client.get("/units/615").json["name"] == "Huyện Đắk Hà"
    assert len(client.get("/units/62/children").json["items"]) == 10
    assert client.get("/units/999").status_code == 404


def test_subjects_list_create_and_scope(ctx, api, make):
    officer = make.reviewer("commune_reviewer", COMMUNE)
    mine = make.subject("family", COMMUNE, name="Hộ Đinh Văn Hùng")
    make.subject("family", "23284", name="Hộ Ở Xã Khác")
    client = api(officer)
    names = [s["name"] for s in client.get("/subjects").json["items"]]
    assert names == ["Hộ Đinh Văn Hùng"]
    assert client.get("/subjects?q=dinh van").json["items"][0]["id"] == mine.id
    created = client.post(
        "/subjects", json={"kind": "family", "name": "Hộ Mới", "unit_code": COMMUNE}
    )
    assert created.status_code == 201 and created.json["managing_level"] == "commune"
    elsewhere = client.post("/subjects", json={"kind": "family", "name": "X", "unit_code": "23284"})
    assert elsewhere.status_code == 422 and "unit_code" in elsewhere.json["error"]["details"]
    bad = client.post("/subjects", json={"kind": "house", "name": "", "unit_code": COMMUNE})
    assert set(bad.json["error"]["details"]) == {"kind", "name"}
    assert client.get(f"/subjects/{mine.id}").status_code == 200
    assert api(make.applicant(mine)).post("/subjects", json={}).status_code == 403


def test_applicant_starts_fills_and_submits_and_follows(ctx, api, make):
    subject = make.subject("family", COMMUNE)
    applicant = make.applicant(subject)
    client = api(applicant)
    created = client.post(
        "/cases", json={"subject_id": subject.id, "title": "family", "year": date.today().year}
    )
    assert created.status_code == 201
    case = created.json
    assert case["state"] == "draft" and case["allowed_triggers"] == ["withdraw"]
    again = client.post(
        "/cases", json={"subject_id": subject.id, "title": "family", "year": date.today().year}
    )
    assert again.status_code == 409
    items = [
        {"code": i["code"], "score": i["max_points"], "evidence": "Có"}
        for i in case["assessment"]["items"]
    ]
    too_much = client.put(
        f"/cases/{case['id']}/assessment",
        json={"items": [{"code": items[0]["code"], "score": 999}]},
    )
    assert too_much.status_code == 422
    filled = client.put(f"/cases/{case['id']}/assessment", json={"items": items}).json
    assert filled["assessment"]["passed"] and "submit" in filled["allowed_triggers"]
    submitted = client.post(
        f"/cases/{case['id']}/transitions", json={"trigger": "submit", "version": filled["version"]}
    )
    assert submitted.status_code == 200 and submitted.json["state"] == "commune_review"
    history = client.get(f"/cases/{case['id']}/history").json["items"]
    assert [h["trigger"] for h in history] == ["create", "assess", "submit"]
    assert history[-1]["from_state"] == "draft"


def test_stale_version_gets_409_with_the_current_version(ctx, api, make):
    case, _ = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    client = api(reviewer)
    case_id, version = case.id, case.version
    first = client.post(
        f"/cases/{case_id}/transitions", json={"trigger": "approve", "version": version}
    )
    assert first.status_code == 200
    late = client.post(
        f"/cases/{case_id}/transitions",
        json={"trigger": "reject", "comment": "x", "version": version},
    )
    assert late.status_code == 409, late.json
    assert late.json["error"]["details"]["current_version"] == version + 1
    unknown = client.post(f"/cases/{case_id}/transitions", json={"trigger": "fly"})
    assert unknown.status_code in (409, 422)


def test_bulk_claim_release_and_refusals(ctx, api, make):
    cases = [make.case_in("commune_review")[0] for _ in range(3)]
    draft, applicant = make.draft()
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    client = api(reviewer)
    claimed = client.post(f"/cases/{cases[0].id}/claim", json={})
    assert claimed.json["claimed_by"] == reviewer.username
    assert client.get("/cases?claimed=me").json["items"][0]["id"] == cases[0].id
    assert client.post(f"/cases/{cases[0].id}/release").json["claimed_by"] is None
    result = client.post(
        "/cases/bulk-transitions",
        json={"ids": [c.id for c in cases] + [draft.id], "trigger": "approve"},
    )
    assert result.json["counts"] == {"succeeded": 3, "failed": 1}
    assert (
        api(applicant)
        .post("/cases/bulk-transitions", json={"ids": [draft.id], "trigger": "submit"})
        .status_code
        == 403
    )
    assert (
        client.post("/cases/bulk-transitions", json={"ids": [], "trigger": "x"}).status_code == 422
    )


def test_case_list_filters_and_keyset_pages(ctx, api, make):
    for _ in range(5):
        make.case_in("commune_review")
    make.case_in("district_verification")
    client = api(make.reviewer("district_reviewer", DISTRICT))
    page = client.get("/cases?state=commune_review&limit=2").json
    seen = [c["id"] for c in page["items"]]
    while page["next_cursor"]:
        page = client.get(f"/cases?state=commune_review&limit=2&cursor={page['next_cursor']}").json
        seen += [c["id"] for c in page["items"]]
    assert len(seen) == 5 == len(set(seen))
    assert client.get("/cases?state=district_verification").json["items"][0]["state"] == (
        "district_verification"
    )
    assert client.get("/cases?limit=0").status_code == 422
    assert client.get("/cases?overdue=maybe").status_code == 422


def test_workflows_and_criteria_sets(ctx, api, make):
    client = api(make.reviewer("commune_reviewer", COMMUNE))
    workflows = client.get("/workflows").json["items"]
    assert {w["title"] for w in workflows} == {"family", "clan", "community", "commune", "unit"}
    family = client.get("/criteria-sets/family-2016").json
    assert family["max_total"] == 100 and family["items"][0]["max_points"] == 10
    assert client.get("/criteria-sets/nope").status_code == 404
    unit = client.get("/criteria-sets/unit-qd448").json
    # who the set is for, and from when to when, by managing level
    assert unit["managed_by"] == {
        "commune": {"from": "2016-01-01", "to": None},
        "district": {"from": "2016-01-01", "to": "2020-09-20"},
        "province": {"from": "2016-01-01", "to": "2020-09-20"},
    }
    assert client.get("/criteria-sets/unit-tt22-2020").json["effective"] == {
        "from": "2020-09-21",
        "to": "2024-01-25",
    }
    levels = client.get("/criteria-sets/unit-tt24-2023").json
    assert levels["kind"] == "levels" and levels["levels"][1]["label"] == "Mức độ 2 – Tốt"
    # staff see which figures are unverified; an applicant sees the criteria only
    assert not family["items"][-1]["verified"] and "tạm" in family["notes"]
    household = api(make.applicant(make.subject())).get("/criteria-sets/family-2016").json
    assert "notes" not in household and all("verified" not in i for i in household["items"])
    assert household["items"][0]["max_points"] == 10


def test_notifications_inbox(ctx, api, make):
    from htsd_workflow.notifications.operations import dispatch_pending

    case, applicant = make.case_in("commune_review")
    dispatch_pending()
    db.session.commit()
    client = api(applicant)
    inbox = client.get("/notifications").json
    assert inbox["unread"] == 1 and inbox["items"][0]["case_id"] == case.id
    assert client.post("/notifications/read", json={}).status_code == 200
    assert client.get("/notifications?unread=true").json["items"] == []


def test_the_openapi_document_describes_every_endpoint(ctx, api):
    document = api().get("/openapi.json").json
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    for path in (
        "/auth/token",
        "/me",
        "/units/{code}",
        "/units/{code}/children",
        "/subjects",
        "/subjects/{subject_id}",
        "/cases",
        "/cases/{case_id}",
        "/cases/{case_id}/assessment",
        "/cases/{case_id}/transitions",
        "/cases/bulk-transitions",
        "/cases/{case_id}/history",
        "/cases/{case_id}/claim",
        "/cases/{case_id}/release",
        "/notifications",
        "/workflows",
        "/criteria-sets/{set_id}",
    ):
        assert path in paths, path
    schema = paths["/cases/{case_id}"]["get"]["responses"]["200"]["content"]
    assert "application/json" in schema


def test_a_new_password_ends_the_old_tokens(ctx, api, make):
    user = make.reviewer("commune_reviewer", COMMUNE)
    client = api(user)
    assert client.get("/me").status_code == 200
    set_password(user, "mat-khau-moi-2026")
    db.session.commit()
    assert client.get("/me").status_code == 401


@pytest.mark.pinned_clock
def test_reviewing_level_extends_a_deadline_once_per_stage(ctx, api, make):
    case, applicant = make.case_in("commune_review")
    assert case.due_at == datetime(2026, 12, 21, 10)  # 17:00 local, 10 working days
    commune = api(make.reviewer("commune_reviewer", COMMUNE))
    path = f"/cases/{case.id}/extensions"
    for bad in (
        {"working_days": 0, "reason": "Chờ họp"},
        {"working_days": "5", "reason": "Chờ họp"},
        {"working_days": 31, "reason": "Chờ họp"},
        {"working_days": 5, "reason": ""},
        {"working_days": 5},
    ):
        refused = commune.post(path, json=bad)
        assert refused.status_code == 422, bad
        assert refused.get_json()["error"]["code"]
    assert api(applicant).post(path, json={"working_days": 5, "reason": "x"}).status_code == 403
    district = api(make.reviewer("district_reviewer", DISTRICT))
    assert district.post(path, json={"working_days": 5, "reason": "x"}).status_code == 403
    outsider = api(make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    assert outsider.post(path, json={"working_days": 5, "reason": "x"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Case, case.id).due_at == datetime(2026, 12, 21, 10)

    done = commune.post(path, json={"working_days": 5, "reason": "Chờ họp thôn"})
    assert done.status_code == 201
    body = done.get_json()
    # five working days after Monday 21 December: Monday 28 December, 17:00 local
    assert body["due_at"] == "2026-12-28T10:00:00Z"
    assert body["previous_due_at"] == "2026-12-21T10:00:00Z"
    assert body["working_days"] == 5 and body["reason"] == "Chờ họp thôn"
    again = commune.post(path, json={"working_days": 2, "reason": "Lần hai"})
    assert again.status_code == 409
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    assert case.due_at == datetime(2026, 12, 28, 10) and case.is_extended
    told = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == case.id, OutboxMessage.kind == "extend_deadline"
        )
    ).all()
    assert len(told) == 1
    assert applicant.id in recipients(
        told[0].kind, told[0].payload, case, get_registry().definition(case.title)
    )
    # the next stage may be extended again, once
    fire_trigger(case.id, "approve", make.reviewer("commune_reviewer", COMMUNE))
    db.session.commit()
    assert district.post(path, json={"working_days": 3, "reason": "Xác minh"}).status_code == 201
    assert district.post(path, json={"working_days": 3, "reason": "Lần hai"}).status_code == 409
