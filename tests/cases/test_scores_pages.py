"""Scores on the pages: nothing typed or attached is lost, each error once beside its field,
saves that do not overwrite each other, and the pass mark before moving a case forward."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent
from htsd_workflow.cases.operations import fire_trigger, save_assessment
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod
from htsd_workflow.geography.operations import set_commune_flags
from htsd_workflow.queues.models import BulkJob, BulkJobItem
from tests.clients import text
from tests.factories import COMMUNE

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
SCORES = {"1.1": "10", "1.2": "9", "1.3": "10", "2.1": "10", "2.2": "18", "3": "18", "4": "18"}


def assessment_form(case, scores, **extra):
    data = {"version": str(case.version), "action": "save"}
    for code, score in scores.items():
        data[f"score-{code}"] = score
        data[f"evidence-{code}"] = f"minh chứng {code}"
    data.update(extra)
    return data


def item(case, code) -> AssessmentItem:
    db.session.expire_all()
    return db.session.scalar(
        select(AssessmentItem).where(AssessmentItem.case_id == case.id, AssessmentItem.code == code)
    )


def field_value(body: str, name: str) -> str | None:
    tag = re.search(rf'<(?:input|textarea)[^>]*name="{re.escape(name)}"[^>]*>', body)
    if tag is None:
        return None
    if tag.group(0).startswith("<textarea"):
        return body[tag.end() : body.index("</textarea>", tag.end())]
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


# --- issue 18 item 6: one bad score keeps everything typed and every file --------------------


def test_an_over_maximum_score_keeps_the_typed_values_and_the_photo(as_user, make):
    case, applicant = make.draft(complete=False)
    household = as_user(applicant)
    data = assessment_form(case, {**SCORES, "2.2": "99"})
    data["files-1.1"] = [(io.BytesIO(JPEG), "giay-khen.jpg")]
    refused = household.post(
        f"/cases/{case.id}/assessment", data, content_type="multipart/form-data"
    )
    assert refused.status_code == 422
    body = text(refused)
    # every typed value is in the form again, the bad one too
    assert field_value(body, "score-2.2") == "99"
    assert field_value(body, "score-1.2") == "9"
    assert field_value(body, "evidence-3") == "minh chứng 3"
    # the error once, beside its field
    assert body.count("vượt quá điểm tối đa") == 1
    error_at = body.index("vượt quá điểm tối đa")
    assert body.rindex('name="score-2.2"', 0, error_at) > body.rindex(
        'name="score-1.3"', 0, error_at
    )
    # the photo is kept, and listed with its item
    files = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all()
    assert [(f.item_code, f.filename) for f in files] == [("1.1", "giay-khen.jpg")]
    assert "giay-khen.jpg" in body
    # the scores themselves are not half-saved
    assert item(case, "1.2").score is None


def test_an_evidence_error_is_shown_once_beside_the_evidence(as_user, make):
    case, applicant = make.draft(complete=False)
    data = assessment_form(case, SCORES)
    data["evidence-3"] = "x" * 5000
    refused = as_user(applicant).post(f"/cases/{case.id}/assessment", data)
    assert refused.status_code == 422
    body = text(refused)
    assert body.count("dài tối đa") == 1
    assert body.index("dài tối đa") > body.index('name="evidence-3"')
    assert field_value(body, "score-4") == "18"


# --- issue 19 item 5: the second save from the same version is refused, typed values kept -----


def test_second_draft_save_from_the_same_version_gets_409_with_its_values_kept(as_user, make):
    case, applicant = make.draft(complete=False)
    officer = make.reviewer("commune_reviewer", COMMUNE)
    stale = assessment_form(case, {"1.1": "3"})
    first = as_user(applicant).post(
        f"/cases/{case.id}/assessment", assessment_form(case, {"1.1": "8"})
    )
    assert first.status_code == 302
    second = as_user(officer).post(f"/cases/{case.id}/assessment", stale)
    assert second.status_code == 409
    body = text(second)
    assert field_value(body, "score-1.1") == "3"  # what they typed, not lost
    assert item(case, "1.1").score == 8  # and the first save not reverted
    assert field_value(body, "version") == str(db.session.get(Case, case.id).version)


def test_second_adjustment_from_the_same_version_gets_409_with_its_values_kept(as_user, make):
    case, _ = make.case_in("commune_review")
    seen = str(case.version)
    first = as_user(make.user("commune_reviewer", COMMUNE)).post(
        f"/cases/{case.id}/scores", {"version": seen, "review-2.2": "10", "note-2.2": "Thiếu"}
    )
    assert first.status_code == 302
    second = as_user(make.user("commune_reviewer", COMMUNE)).post(
        f"/cases/{case.id}/scores", {"version": seen, "review-2.2": "19", "note-2.2": "Đủ"}
    )
    assert second.status_code == 409
    body = text(second)
    assert field_value(body, "review-2.2") == "19" and field_value(body, "note-2.2") == "Đủ"
    assert item(case, "2.2").reviewed_score == 10


# --- issue 18 item 5: an adjustment typed before "Đồng ý" is not lost -----------------------


def test_adjustment_typed_then_approve_saves_both(as_user, make):
    case, _ = make.case_in("commune_review")
    reviewer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    done = reviewer.post(
        f"/cases/{case.id}/actions",
        {
            "version": str(case.version),
            "trigger": "approve",
            "review-3": "15",
            "note-3": "Một minh chứng chưa rõ",
        },
    )
    assert done.status_code == 302
    assert item(case, "3").reviewed_score == 15
    triggers = db.session.scalars(
        select(CaseEvent.trigger).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    assert triggers[-2:] == ["adjust_scores", "approve"]


def test_adjustment_without_its_note_refuses_the_action_and_keeps_what_was_typed(as_user, make):
    case, _ = make.case_in("commune_review")
    reviewer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    refused = reviewer.post(
        f"/cases/{case.id}/actions",
        {"version": str(case.version), "trigger": "approve", "review-3": "15", "comment": "ok"},
    )
    assert refused.status_code == 422
    body = text(refused)
    assert field_value(body, "review-3") == "15" and "ok</textarea>" in body
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "commune_review"
    assert item(case, "3").reviewed_score is None


def test_the_case_page_has_one_form_for_adjustments_and_actions(as_user, make):
    case, _ = make.case_in("commune_review")
    body = text(as_user(make.reviewer("commune_reviewer", COMMUNE)).get(f"/cases/{case.id}"))
    approve = re.search(r'<button[^>]*value="approve"[^>]*>', body).group(0)
    review = re.search(r'<input[^>]*name="review-3"[^>]*>', body).group(0)
    owner = re.search(r'form="([^"]+)"', approve).group(1)
    assert re.search(r'form="([^"]+)"', review).group(1) == owner
    assert f'<form id="{owner}"' in body


# --- issue 18 item 3: the page refuses a failing case without a reason, and shows the reason --


def test_approve_on_the_page_below_the_mark_asks_for_a_reason_then_shows_it(as_user, make):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.66)
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    reviewer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    page = text(reviewer.get(f"/cases/{case.id}"))
    assert 'name="override_reason"' in page
    refused = reviewer.post(
        f"/cases/{case.id}/actions", {"version": str(case.version), "trigger": "approve"}
    )
    assert refused.status_code == 422
    body = text(refused)
    assert "66/100" in body and "điểm đạt 80" in body
    done = reviewer.post(
        f"/cases/{case.id}/actions",
        {
            "version": str(case.version),
            "trigger": "approve",
            "override_reason": "Hộ có hoàn cảnh đặc biệt, thôn đề nghị",
        },
    )
    assert done.status_code == 302
    shown = text(reviewer.get(f"/cases/{case.id}"))
    assert "Chuyển tiếp dù chưa đạt" in shown
    assert "Hộ có hoàn cảnh đặc biệt, thôn đề nghị" in shown


# --- issue 18 item 4 and the queue part of item 3: the score that counts, and Đạt/Chưa đạt ---


def _queue_row(body: str, case_id: int) -> str:
    start = body.index(f'name="case_id" value="{case_id}"')
    return body[start : body.index("</tr>", start)]


def test_district_queue_shows_the_communes_adjusted_score_and_whether_it_passes(as_user, make):
    case, applicant = make.draft(complete=False)
    typed = {"1.1": 10, "1.2": 9.5, "1.3": 10, "2.1": 10, "2.2": 17, "3": 17, "4": 16}  # 89.5
    save_assessment(case.id, [{"code": c, "score": s} for c, s in typed.items()], applicant)
    fire_trigger(case.id, "submit", applicant)
    commune = make.reviewer("commune_reviewer", COMMUNE)
    save_assessment(case.id, [{"code": "2.2", "score": 12, "note": "Thiếu sổ học tập"}], commune)
    fire_trigger(case.id, "approve", commune)
    low = failing_in_district(make, commune)
    db.session.commit()
    body = text(as_user(make.reviewer("district_reviewer", "608")).get("/queue"))
    row = _queue_row(body, case.id)
    assert "84,5" in row and "tự chấm 89,5" in row and ">Đạt<" in row
    low_row = _queue_row(body, low.id)
    assert "66" in low_row and ">Chưa đạt<" in low_row


def failing_in_district(make, commune):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.66)
    fire_trigger(case.id, "submit", applicant)
    fire_trigger(case.id, "approve", commune, override_reason="Thôn đề nghị")
    return case


# --- issue 18 item 3: bulk actions skip failing cases unless overridden, and ask first -------


def _job_items(job_id):
    return {
        item.case_id: item
        for item in db.session.scalars(select(BulkJobItem).where(BulkJobItem.job_id == job_id))
    }


def test_bulk_over_the_filter_asks_first_with_the_count_and_how_many_fail(as_user, make):
    good, _ = make.case_in("commune_review")
    commune_user = make.reviewer("commune_reviewer", COMMUNE)
    bad = failing_in_commune(make)
    commune = as_user(commune_user)
    asked = commune.post("/queue/bulk", {"trigger": "approve", "selection": "filter"})
    assert asked.status_code == 200
    body = text(asked)
    assert "tất cả 2 hồ sơ khớp bộ lọc" in body and "Trong đó 1 hồ sơ chưa đạt điểm" in body
    assert db.session.scalar(select(func.count()).select_from(BulkJob)) == 0  # nothing done yet
    done = commune.post(
        "/queue/bulk", {"trigger": "approve", "selection": "filter", "confirmed": "1"}
    )
    job_id = int(done.headers["Location"].rsplit("/", 1)[1])
    items = _job_items(job_id)
    assert items[good.id].is_ok and not items[bad.id].is_ok
    assert "66/100" in items[bad.id].message and items[bad.id].code == "below_pass_mark"
    assert "66/100" in text(commune.get(f"/bulk/{job_id}"))


def test_bulk_with_the_override_reason_moves_failing_cases_too(as_user, make):
    commune_user = make.reviewer("commune_reviewer", COMMUNE)
    bad = failing_in_commune(make)
    done = as_user(commune_user).post(
        "/queue/bulk",
        {"trigger": "approve", "case_id": [str(bad.id)], "override_reason": "Biên bản họp thôn"},
    )
    job_id = int(done.headers["Location"].rsplit("/", 1)[1])
    assert _job_items(job_id)[bad.id].is_ok
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == bad.id, CaseEvent.trigger == "approve")
    )
    assert event.data["override"]["reason"] == "Biên bản họp thôn"


def failing_in_commune(make):
    case, applicant = make.draft()
    make.fill(case, applicant, fraction=0.66)
    fire_trigger(case.id, "submit", applicant)
    db.session.commit()
    return case


def test_which_figures_are_unverified_is_shown_to_staff_only(as_user, make):
    case, applicant = make.case_in("commune_review")  # family: criteria 3 and 4 unverified
    staff = text(as_user(make.reviewer("commune_reviewer", COMMUNE)).get(f"/cases/{case.id}"))
    assert "Dành cho cán bộ" in staff and "tiêu chí 3, 4" in staff and "giá trị tạm" in staff
    mine = text(as_user(applicant).get(f"/cases/{case.id}"))
    assert "Dành cho cán bộ" not in mine and "Giá trị tạm" not in mine


@pytest.mark.parametrize(
    "listed, flag, passes",
    [
        (None, False, False),  # never ĐBKK: the mark of 80
        ((2021, None), False, True),  # listed for the case's year: 70
        ((2016, 2020), True, False),  # listed, but not for the case's year: the flag is ignored
        (None, True, True),  # never listed: the commune's flag
    ],
)
def test_the_queue_marks_a_case_by_the_dbkk_status_of_its_commune_in_its_year(
    as_user, make, listed, flag, passes
):
    """75 of 100 passes the ĐBKK mark (70), not the other (80): the queue's Đạt / Chưa đạt and
    the count of failing cases asked before a bulk action over the filter both follow
    ``geography.queries.unit_is_dbkk_in`` for the case's year (asked in the rows' statement)."""
    case, applicant = make.draft()  # a 2026 case
    make.fill(case, applicant, fraction=0.75)
    fire_trigger(case.id, "submit", applicant)
    set_commune_flags(COMMUNE, is_dbkk=flag)
    if listed:
        db.session.add(DbkkPeriod(unit_code=COMMUNE, from_year=listed[0], to_year=listed[1]))
    db.session.commit()
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    row = _queue_row(text(commune.get("/queue")), case.id)
    assert (">Đạt<" in row, ">Chưa đạt<" in row) == (passes, not passes)
    asked = text(commune.post("/queue/bulk", {"trigger": "approve", "selection": "filter"}))
    assert ("Trong đó 1 hồ sơ chưa đạt điểm" in asked) == (not passes)
