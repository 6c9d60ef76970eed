"""The API's answer to input no database holds: a 4xx in the error shape naming the field, and
nothing changed."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import MAX_COMMENT_LENGTH, AssessmentItem, Case, CaseEvent
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject
from tests.factories import COMMUNE, COMMUNE_IN_OTHER_DISTRICT, DISTRICT


def _error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.data[:300])
    error = response.json["error"]
    assert set(error) == {"code", "message", "details"}
    return error


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_ids_beyond_the_integer_keys_are_refused_naming_the_field(make, api):
    officer = api(make.reviewer("commune_reviewer", COMMUNE))
    assert _error(officer.get(f"/cases/{2**31}"), 404)["code"] == "not_found"
    assert "cursor" in _error(officer.get(f"/cases?cursor={2**31}"), 422)["details"]
    assert "cursor" in _error(officer.get("/subjects?cursor=١٢"), 422)["details"]
    assert "cursor" in _error(officer.get(f"/notifications?cursor={2**40}"), 422)["details"]
    for body, field in (
        ({"subject_id": 2**63, "title": "family", "year": 2026}, "subject_id"),
        ({"subject_id": 10**30, "title": "family", "year": 2026}, "subject_id"),
        ({"subject_id": "١٢", "title": "family", "year": 2026}, "subject_id"),
    ):
        assert field in _error(officer.post("/cases", body), 422)["details"]
    bulk = officer.post("/cases/bulk-transitions", {"ids": [1, 2**63], "trigger": "approve"})
    assert "ids" in _error(bulk, 422)["details"]
    read = officer.post("/notifications/read", {"ids": [10**30]})
    assert "ids" in _error(read, 422)["details"]
    province = api(make.reviewer("province_officer", "62"))
    clan = {"kind": "clan", "name": "Họ Lê", "unit_code": COMMUNE, "member_ids": [2**63]}
    assert "member_ids" in _error(province.post("/subjects", clan), 422)["details"]
    household = {"kind": "family", "name": "Hộ A", "unit_code": COMMUNE, "community_id": 2**31}
    assert "community_id" in _error(province.post("/subjects", household), 422)["details"]
    assert _count(Subject) == 0 and _count(Case) == 0


def test_json_nested_thousands_of_levels_is_a_400_even_before_signing_in(api):
    anyone = api()
    for deep in ("[" * 2000 + "]" * 2000, '{"a":' * 2000 + "1" + "}" * 2000):
        response = anyone.client.post(
            "/api/v1/auth/token", data=deep, content_type="application/json"
        )
        assert _error(response, 400)["code"] == "bad_request"
    nested = {"username": "x", "password": "y"}
    for _ in range(100):
        nested = {"username": nested}
    assert _error(anyone.post("/auth/token", nested), 422)["code"] == "invalid_input"


def test_a_lone_surrogate_in_any_text_is_a_422_naming_the_field(make, api):
    case, applicant = make.case_in("draft")
    item = db.session.scalars(select(AssessmentItem).where(AssessmentItem.case_id == case.id))
    code = item.first().code
    before = _count(AssessmentItem, AssessmentItem.evidence == "ok")
    owner = api(applicant)
    answer = owner.put(
        f"/cases/{case.id}/assessment",
        {"items": [{"code": code, "score": 1, "evidence": "ảnh\ud894"}]},
    )
    assert "items[0].evidence" in _error(answer, 422)["details"]
    assert _count(AssessmentItem, AssessmentItem.evidence == "ok") == before
    comment = owner.post(
        f"/cases/{case.id}/transitions", {"trigger": "submit", "comment": "\ud800"}
    )
    assert "comment" in _error(comment, 422)["details"]
    assert _count(CaseEvent, CaseEvent.case_id == case.id, CaseEvent.trigger == "submit") == 0
    province = api(make.reviewer("province_officer", "62"))
    subject = province.post(
        "/subjects", {"kind": "family", "name": "Hộ \udfff", "unit_code": COMMUNE}
    )
    assert "name" in _error(subject, 422)["details"]
    token = api().post("/auth/token", {"username": "a\ud800", "password": "x"})
    assert "username" in _error(token, 422)["details"]
    keyed = api().post("/auth/token", {"username": "a", "password": "x", "\ud800": 1})
    assert _error(keyed, 422)["code"] == "invalid_input"


@pytest.mark.parametrize(
    "query",
    [
        "from=0001-01-01&to=9999-12-31",
        "from=0001-01-01",
        "to=9999-12-31",
        "from=2026-01-01&to=2101-01-01",
    ],
)
def test_report_periods_at_the_calendars_edges_are_a_422(make, api, as_user, query):
    officer = make.reviewer("province_officer", "62")
    assert _error(api(officer).get(f"/reports/bottlenecks?{query}"), 422)["code"] == "invalid_input"
    browser = as_user(officer)
    assert browser.get(f"/reports/bottlenecks?{query}").status_code == 422
    assert browser.get(f"/reports/bottlenecks/trend?{query}").status_code == 422


def test_another_territorys_external_code_is_refused_without_naming_its_subject(make, api):
    theirs = make.subject("family", COMMUNE_IN_OTHER_DISTRICT, external_code="H-ABC")
    reviewer = api(make.reviewer("district_reviewer", DISTRICT))
    answer = reviewer.post(
        "/subjects",
        {"kind": "family", "name": "Hộ B", "unit_code": COMMUNE, "external_code": "H-ABC"},
    )
    error = _error(answer, 409)
    assert "external_code" in error["details"]
    # "đã được dùng (đối tượng 2236)" named a record the caller may not see
    assert not re.search(r"\d", error["message"] + str(error["details"])), (theirs.id, error)
    assert _count(Subject) == 1


@pytest.mark.postgres_only
def test_two_requests_creating_one_external_code_at_once_give_a_201_and_a_409(
    ctx, make, api, monkeypatch
):
    from htsd_workflow.api import subjects as views

    province = api(make.reviewer("province_officer", "62"))
    other = api(make.reviewer("province_officer", "62"))
    inserted, hold = threading.Event(), threading.Event()
    original = views.create_subject

    def first_waits(*args, **kwargs):
        subject = original(*args, **kwargs)
        if not inserted.is_set():
            inserted.set()  # the first request's row is in, not yet committed
            hold.wait(5)
        return subject

    monkeypatch.setattr(views, "create_subject", first_waits)
    body = {"kind": "family", "name": "Hộ C", "unit_code": COMMUNE, "external_code": "H-7"}
    answers = {}

    def send(key, client):
        answers[key] = client.post("/subjects", body)

    first = threading.Thread(target=send, args=("first", province))
    first.start()
    assert inserted.wait(5)
    second = threading.Thread(target=send, args=("second", other))
    second.start()
    time.sleep(0.5)  # the second insert now waits on the first one's unique key
    hold.set()
    first.join(10)
    second.join(10)
    assert answers["first"].status_code == 201, answers["first"].data[:300]
    assert _error(answers["second"], 409)["details"].keys() == {"external_code"}
    db.session.expire_all()
    assert _count(Subject, Subject.external_code == "H-7") == 1


def _history(case_id: int) -> int:
    db.session.expire_all()
    return _count(CaseEvent, CaseEvent.case_id == case_id)


@pytest.mark.parametrize("path", ["/cases/{id}/transitions", "/cases/bulk-transitions"])
def test_the_api_has_the_pages_comment_limit(make, api, path):
    case, _applicant = make.case_in("commune_review")
    before = _history(case.id)
    officer = api(make.reviewer("commune_reviewer", COMMUNE))
    body = {"trigger": "return_to_applicant", "comment": "x" * (MAX_COMMENT_LENGTH + 1)}
    if "bulk" in path:
        body["ids"] = [case.id]
    answer = officer.post(path.format(id=case.id), body)
    assert answer.status_code == 422 and "comment" in answer.json["error"]["details"]
    assert _history(case.id) == before


def test_codes_and_phone_numbers_take_only_ascii_digits(make, api):
    province = api(make.reviewer("province_officer", "62"))
    household = {"kind": "family", "name": "Hộ D", "unit_code": COMMUNE, "phone": "٠٩١٢٣٤٥٦٧٨"}
    assert "phone" in _error(province.post("/subjects", household), 422)["details"]
    assert "unit" in _error(province.get("/cases?unit=٦٢"), 422)["details"]
    assert _count(Subject) == 0
