"""Refusals of the core (DomainError messages and their details) follow the reader's language:
pages, flash messages, the 409 page and the API's JSON; Vietnamese outside a request."""

from __future__ import annotations

from flask import g, get_flashed_messages, session
from flask_babel import force_locale, refresh
from flask_babel import lazy_gettext as _l

from htsd_workflow.admin.forms import UserForm
from htsd_workflow.admin.views import _show_errors
from htsd_workflow.cases.operations import claim_case, fire_trigger
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from htsd_workflow.core.labels import STATE_LABELS
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.runner import run_job
from htsd_workflow.queues.operations import BULK_JOB
from tests.clients import text
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT, PROVINCE


def fresh():
    """The test holds the app context its requests reuse: forget the language chosen for the
    previous request, as a server's next request would."""
    g.__dict__.clear()


def english(browser):
    switched = browser.post("/language", {"lang": "en", "next": "/"})
    assert switched.status_code == 302
    return browser


def test_an_english_reader_gets_english_refusals_on_pages(as_user, make):
    case, _ = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    missing_comment = {"trigger": "return_to_applicant", "version": case.version}

    vietnamese = as_user(reviewer).post(f"/cases/{case.id}/actions", missing_comment)
    assert vietnamese.status_code == 422
    assert "Cần ghi rõ lý do hoặc nội dung cần bổ sung." in text(vietnamese)
    assert "Bắt buộc nhập nhận xét cho thao tác này." in text(vietnamese)

    refused = english(as_user(reviewer)).post(f"/cases/{case.id}/actions", missing_comment)
    assert refused.status_code == 422
    body = text(refused)
    assert "State the reason or what needs to be completed." in body
    assert "This action needs a comment." in body  # the field detail too
    assert "Cần ghi rõ lý do" not in body and "Bắt buộc nhập nhận xét" not in body


def test_field_details_with_placeholders_are_english_on_the_assessment_page(as_user, make):
    case, applicant = make.draft(complete=False)
    household = english(as_user(applicant))
    form = {"version": str(case.version), "action": "save", "score-1.1": "999"}
    refused = household.post(f"/cases/{case.id}/assessment", form)
    assert refused.status_code == 422
    body = text(refused)
    assert "The score 999 exceeds the maximum of" in body and "points for item 1.1" in body
    assert body.count("The score 999 exceeds") == 1  # once, beside its field
    assert "vượt quá điểm tối đa" not in body


def test_the_conflict_page_is_english_with_the_stage_in_english(as_user, make):
    case, _ = make.case_in("commune_review")
    first = make.user("commune_reviewer", COMMUNE, full_name="Chị Lan")
    second = english(as_user(make.user("commune_reviewer", COMMUNE)))
    stale_version = case.version
    fire_trigger(case.id, "approve", first)
    db.session.commit()

    stale = second.post(
        f"/cases/{case.id}/actions", {"trigger": "approve", "version": stale_version}
    )
    assert stale.status_code == 409
    assert "Someone else updated the case before you." in text(stale)
    assert "Chị Lan" in text(stale)

    moved_on = second.post(f"/cases/{case.id}/actions", {"trigger": "approve"})
    assert moved_on.status_code == 409
    with force_locale("en"):
        stage = str(STATE_LABELS["district_verification"])
    assert stage == "Awaiting district verification"
    assert "Chờ huyện thẩm định" not in text(moved_on)
    assert f"The case is now at the stage “{stage}” and no longer in your queue." in text(moved_on)


def test_a_flashed_refusal_is_english(ctx):
    refusal = NotAllowed(_l("Bạn không được đặt lại mật khẩu của tài khoản này."))
    with ctx.test_request_context("/admin/users/new"):
        refresh()
        session["lang"] = "en"
        _show_errors(UserForm(meta={"csrf": False}), refusal)
        assert get_flashed_messages() == ["You may not reset the password of this account."]
    with ctx.test_request_context("/admin/users/new"):
        refresh()
        _show_errors(UserForm(meta={"csrf": False}), refusal)
        assert get_flashed_messages() == ["Bạn không được đặt lại mật khẩu của tài khoản này."]


def test_the_api_answers_in_the_language_of_accept_language(ctx, api, make):  # noqa: F811
    other = make.case_in("commune_review", unit=OTHER_COMMUNE_SAME_DISTRICT)[0]
    client = api(make.reviewer("commune_reviewer", COMMUNE))
    path = f"/api/v1/cases/{other.id}"
    auth = client._headers()

    fresh()
    default = client.client.get(path, headers=auth)
    assert default.status_code == 404
    assert default.json["error"]["message"] == "Không tìm thấy hồ sơ trong phạm vi của bạn."
    fresh()
    asked = client.client.get(path, headers={**auth, "Accept-Language": "en-GB,en;q=0.8"})
    assert asked.json["error"] == {
        "code": "not_found",
        "message": "No such case within your scope.",
        "details": {},
    }
    fresh()
    french = client.client.get(path, headers={**auth, "Accept-Language": "fr"})
    assert french.json["error"]["message"] == "Không tìm thấy hồ sơ trong phạm vi của bạn."

    draft, applicant = make.draft(complete=False)
    owner = api(applicant)
    fresh()
    too_much = owner.client.put(
        f"/api/v1/cases/{draft.id}/assessment",
        json={"items": [{"code": "1.1", "score": 999}, {"code": "9.9", "score": 1}]},
        headers={**owner._headers(), "Accept-Language": "en"},
    )
    assert too_much.status_code == 422
    error = too_much.json["error"]
    assert error["message"].startswith("The self-assessment scores are not valid: The score 999")
    assert error["details"]["items[1.1].score"].startswith("The score 999 exceeds the maximum")
    assert error["details"]["items[9.9].code"].startswith("There is no item with code “9.9”")

    fresh()
    no_token = ctx.test_client().get("/api/v1/me", headers={"Accept-Language": "en"})
    assert no_token.status_code == 401
    assert no_token.json["error"]["message"] == (
        "The access token is missing (Authorization: Bearer …)."
    )


def test_outside_a_request_messages_are_vietnamese(ctx):
    refresh()
    refusal = Conflict(
        _l(
            "Đối tượng này đã có hồ sơ danh hiệu năm %(year)s (mã hồ sơ %(case_id)s).",
            year=2026,
            case_id=7,
        ),
        details={"case_id": 7, "year": _l("Chọn năm có đợt đăng ký đang mở")},
    )
    expected = "Đối tượng này đã có hồ sơ danh hiệu năm 2026 (mã hồ sơ 7)."
    assert refusal.message == str(refusal) == expected
    assert refusal.details == {"case_id": 7, "year": "Chọn năm có đợt đăng ký đang mở"}
    assert NotFound("Văn bản thường").message == "Văn bản thường"  # plain text still works
    with ctx.test_request_context("/"):
        refresh()
        session["lang"] = "en"
        assert refusal.message == "This subject already has an application for 2026 (case 7)."
        details = InvalidInput(_l("Thiếu tên."), details={"items": [_l("Bắt buộc")]}).details
        assert details == {"items": ["Required"]}


def test_report_definitions_follow_the_language(ctx, api, make):  # noqa: F811
    client = api(make.user("manager", PROVINCE))
    fresh()
    default = client.get("/reports/bottlenecks")
    assert default.json["definitions"]["returned"] == (
        "Hồ sơ rời bước trong kỳ vì bị trả lại (cho người nộp hoặc cho cấp dưới)"
    )
    fresh()
    english = client.client.get(
        "/api/v1/reports/bottlenecks", headers={**client._headers(), "Accept-Language": "en"}
    )
    assert english.json["definitions"]["returned"] == (
        "Cases that left the stage in the period because they were returned "
        "(to the applicant or to the level below)"
    )


def test_a_background_bulk_job_keeps_its_reasons_in_the_starters_language(as_user, make, ctx):
    cases = [make.case_in("commune_review")[0] for _ in range(3)]
    claim_case(cases[0].id, make.user("commune_reviewer", COMMUNE))
    db.session.commit()
    starter = make.user("commune_reviewer", COMMUNE)
    commune = english(as_user(starter))
    started = []
    ctx.config["BULK_BACKGROUND_THRESHOLD"] = 2
    ctx.extensions.setdefault("htsd_job_runners", {})[names.RUN_BULK_JOB] = started.append
    try:
        response = commune.post(
            "/queue/bulk", {"trigger": "approve", "case_id": [str(c.id) for c in cases]}
        )
    finally:
        ctx.config["BULK_BACKGROUND_THRESHOLD"] = 300
        ctx.extensions["htsd_job_runners"].pop(names.RUN_BULK_JOB)
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert started == [job_id]
    fresh()  # the worker: an app context without a request
    run_job(BULK_JOB, job_id)
    page = text(commune.get(f"/bulk/{job_id}"))
    assert "Another officer has claimed this case; only they may act on it." in page
    assert "cán bộ khác nhận xử lý" not in page
