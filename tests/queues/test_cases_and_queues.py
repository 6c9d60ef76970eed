"""Applicant, case, queue, bulk, search, overview and admin pages, with their refusals."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from htsd_workflow.auth.models import User
from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent
from htsd_workflow.cases.operations import claim_case, fire_trigger
from htsd_workflow.core.time import utcnow
from htsd_workflow.evidence.files import clean_filename, detect_type, stored_path
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.evidence.operations import add_attachment
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from htsd_workflow.jobs.runner import run_job
from htsd_workflow.notifications.models import OutboxMessage
from htsd_workflow.queues.models import BulkJob
from htsd_workflow.queues.operations import BULK_JOB
from tests.clients import text
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT, PROVINCE

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
SCORES = {"1.1": "10", "1.2": "9", "1.3": "10", "2.1": "10", "2.2": "18", "3": "18", "4": "18"}


def assessment_form(case, scores, **extra):
    data = {"version": str(case.version), "action": "save"}
    for code, score in scores.items():
        data[f"score-{code}"] = score
        data[f"evidence-{code}"] = f"minh chứng {code}"
    data.update(extra)
    return data


def test_applicant_starts_saves_a_draft_and_is_told_which_items_are_missing(as_user, make):
    subject = make.subject("family", COMMUNE, name="Hộ A Blong")
    household = as_user(make.applicant(subject))
    home = household.get("/my")
    assert "Hộ A Blong" in text(home) and "Bắt đầu tự đánh giá" in text(home)
    started = household.post("/my/cases", {"year": str(utcnow().year)})
    case = db.session.scalar(select(Case).where(Case.subject_id == subject.id))
    assert started.headers["Location"].endswith(f"/cases/{case.id}/assessment")
    partial = {k: v for k, v in SCORES.items() if k != "4"}
    saved = household.post(f"/cases/{case.id}/assessment", assessment_form(case, partial))
    assert saved.status_code == 302
    refused = household.post(
        f"/cases/{case.id}/assessment", assessment_form(case, partial, action="send")
    )
    assert refused.status_code == 422
    assert "Các tiêu chí còn thiếu điểm: 4" in text(refused)
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "draft"
    sent = household.post(
        f"/cases/{case.id}/assessment", assessment_form(case, SCORES, action="send")
    )
    assert sent.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "commune_review"
    page = text(household.get(f"/cases/{case.id}"))
    assert "Chờ xã xét duyệt" in page and "Còn 10 ngày làm việc" in page


def test_a_score_above_the_maximum_keeps_everything_typed(as_user, make):
    case, applicant = make.draft(complete=False)
    household = as_user(applicant)
    typed = dict(SCORES, **{"1.1": "12"})
    response = household.post(f"/cases/{case.id}/assessment", assessment_form(case, typed))
    assert response.status_code == 422
    body = text(response)
    assert "vượt quá điểm tối đa 10" in body
    assert 'value="12"' in body and 'value="18"' in body and "minh chứng 3" in body
    assert (
        db.session.scalar(
            select(AssessmentItem.score).where(
                AssessmentItem.case_id == case.id, AssessmentItem.code == "2.2"
            )
        )
        is None
    )


def test_evidence_files_are_checked_by_content_and_a_bad_one_keeps_the_rest(as_user, make):
    case, applicant = make.draft(complete=False)
    household = as_user(applicant)
    data = assessment_form(case, {"1.1": "10"})
    data["files-1.1"] = [
        (io.BytesIO(JPEG), "../../Giấy khen <1>.pdf"),
        (io.BytesIO(b"MZ this is a program"), "anh.jpg"),
    ]
    response = household.post(
        f"/cases/{case.id}/assessment", data, content_type="multipart/form-data"
    )
    assert response.status_code == 422
    assert "Tệp “anh.jpg” không phải ảnh" in text(response)
    files = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all()
    assert [(f.filename, f.content_type) for f in files] == [("Giấy khen 1.jpg", "image/jpeg")]
    assert (
        db.session.scalar(
            select(AssessmentItem.score).where(
                AssessmentItem.case_id == case.id, AssessmentItem.code == "1.1"
            )
        )
        == 10
    )


def test_a_file_over_the_size_limit_is_refused(as_user, make, ctx):
    case, applicant = make.draft(complete=False)
    ctx.config["UPLOAD_MAX_BYTES"] = 1000
    try:
        data = assessment_form(case, {})
        data["files-2.2"] = [(io.BytesIO(JPEG + b"\x00" * 2000), "big.jpg")]
        response = as_user(applicant).post(
            f"/cases/{case.id}/assessment", data, content_type="multipart/form-data"
        )
    finally:
        ctx.config["UPLOAD_MAX_BYTES"] = 10 * 1024 * 1024
    assert response.status_code == 422 and "lớn hơn" in text(response)
    assert db.session.scalar(select(Attachment.id).where(Attachment.case_id == case.id)) is None


def test_file_types_and_names(ctx):
    assert detect_type(b"%PDF-1.7\n") == ("application/pdf", "pdf")
    assert detect_type(b"\x89PNG\r\n\x1a\n....") == ("image/png", "png")
    assert detect_type(b"\x00\x00\x00\x18ftypheic") == ("image/heic", "heic")
    assert detect_type(b"<html><script>") is None
    assert clean_filename("C:\\x\\..\\Ảnh: nhà?.png", "jpg") == "Ảnh nhà.jpg"
    assert clean_filename("...", "pdf") == "minh-chung.pdf"


def test_evidence_is_downloaded_as_an_attachment_only_by_those_who_see_the_case(as_user, make):
    case, applicant = make.draft(complete=False)
    data = assessment_form(case, {})
    data["files-1.1"] = [(io.BytesIO(JPEG), "giay.jpg")]
    as_user(applicant).post(
        f"/cases/{case.id}/assessment", data, content_type="multipart/form-data"
    )
    attachment = db.session.scalar(select(Attachment).where(Attachment.case_id == case.id))
    url = f"/cases/{case.id}/files/{attachment.id}"
    download = as_user(make.user("commune_reviewer", COMMUNE)).get(url)
    assert download.status_code == 200 and download.data == JPEG
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    other_commune = as_user(make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    assert other_commune.get(url).status_code == 404
    other_household = as_user(make.applicant(make.subject()))
    assert other_household.get(url).status_code == 404


def test_another_communes_case_gives_404_and_never_its_data(as_user, make):
    case, _ = make.case_in("commune_review", name="Hộ Bí Mật")
    outsider = as_user(make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    for url in (f"/cases/{case.id}", f"/cases/{case.id}/assessment"):
        response = outsider.get(url)
        assert response.status_code in (403, 404)
        assert "Hộ Bí Mật" not in text(response)
    refused = outsider.post(f"/cases/{case.id}/actions", {"trigger": "approve"})
    assert refused.status_code == 404
    other_household = as_user(make.applicant(make.subject()))
    assert other_household.get(f"/cases/{case.id}").status_code == 404
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "commune_review"


def test_returned_case_shows_the_comment_on_top_and_resubmits(as_user, make):
    case, applicant = make.case_in("commune_review")
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    missing_comment = commune.post(
        f"/cases/{case.id}/actions", {"trigger": "return_to_applicant", "version": case.version}
    )
    assert missing_comment.status_code == 422
    returned = commune.post(
        f"/cases/{case.id}/actions",
        {"trigger": "return_to_applicant", "comment": "Thiếu ảnh học bạ", "version": case.version},
    )
    assert returned.status_code == 302
    household = as_user(applicant)
    page = text(household.get(f"/cases/{case.id}"))
    assert page.index("Thiếu ảnh học bạ") < page.index("Việc cần làm tiếp")
    db.session.expire_all()
    case = db.session.get(Case, case.id)
    household.post(f"/cases/{case.id}/assessment", assessment_form(case, SCORES, action="send"))
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "commune_review"


def test_the_conflict_page_says_who_acted_first_and_offers_to_reload(as_user, make):
    case, _ = make.case_in("commune_review")
    first = make.user("commune_reviewer", COMMUNE, full_name="Chị Lan")
    second = as_user(make.user("commune_reviewer", COMMUNE))
    stale_version = case.version
    fire_trigger(case.id, "approve", first)
    db.session.commit()
    response = second.post(
        f"/cases/{case.id}/actions", {"trigger": "approve", "version": stale_version}
    )
    assert response.status_code == 409
    body = text(response)
    assert "Chị Lan" in body and "Tải lại hồ sơ" in body


def test_claiming_shows_the_holder_and_blocks_others(as_user, make):
    case, _ = make.case_in("commune_review")
    holder = make.user("commune_reviewer", COMMUNE, full_name="Anh Tú")
    as_user(holder).post(f"/cases/{case.id}/claim")
    other = as_user(make.user("commune_reviewer", COMMUNE))
    assert "Anh Tú" in text(other.get("/queue"))
    assert "Anh Tú" in text(other.get(f"/cases/{case.id}"))
    refused = other.post(f"/cases/{case.id}/claim")
    assert refused.status_code == 409 and "Anh Tú" in text(refused)
    as_user(holder).post(f"/cases/{case.id}/release")
    db.session.expire_all()
    assert db.session.get(Case, case.id).claimed_by_id is None


def test_reviewer_adjusts_a_score_with_a_note_and_history_keeps_both(as_user, make):
    case, _ = make.case_in("commune_review")
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    no_note = commune.post(f"/cases/{case.id}/scores", {"review-2.2": "10"})
    assert no_note.status_code == 422 and 'value="10"' in text(no_note)
    commune.post(f"/cases/{case.id}/scores", {"review-2.2": "10", "note-2.2": "Thiếu chứng chỉ"})
    page = text(commune.get(f"/cases/{case.id}"))
    assert "Thiếu chứng chỉ" in page and "tự chấm 20" in page


def test_commune_officer_enters_a_paper_self_assessment_on_behalf(as_user, make):
    subject = make.subject("family", COMMUNE, name="Hộ Rơ Châm Thuận")
    officer_user = make.user("commune_reviewer", COMMUNE, full_name="Cán bộ Hà")
    officer = as_user(officer_user)
    assert "Lập hồ sơ thay hộ" in text(officer.get(f"/subjects/{subject.id}"))
    officer.post(f"/subjects/{subject.id}/cases", {"year": str(utcnow().year)})
    case = db.session.scalar(select(Case).where(Case.subject_id == subject.id))
    officer.post(f"/cases/{case.id}/assessment", assessment_form(case, SCORES, action="send"))
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "commune_review"
    actors = set(db.session.scalars(select(CaseEvent.actor_id).where(CaseEvent.case_id == case.id)))
    assert actors == {officer_user.id}
    assert "Cán bộ Hà" in text(officer.get(f"/cases/{case.id}"))


def test_commune_officer_resets_a_household_heads_password_in_their_commune_only(as_user, make):
    subject = make.subject("family", COMMUNE)
    head = make.applicant(subject)
    officer = as_user(make.user("commune_reviewer", COMMUNE))
    response = officer.post(f"/subjects/{subject.id}/accounts/{head.id}/reset-password")
    assert response.status_code == 200 and "Mật khẩu tạm" in text(response)
    db.session.expire_all()
    assert db.session.get(User, head.id).must_change_password
    outsider = as_user(make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    assert (
        outsider.post(f"/subjects/{subject.id}/accounts/{head.id}/reset-password").status_code
        == 404
    )


def test_queue_shows_my_stage_and_territory_with_working_days(as_user, make):
    mine, _ = make.case_in("commune_review", name="Hộ Của Tôi")
    make.case_in("commune_review", unit=OTHER_COMMUNE_SAME_DISTRICT, name="Hộ Xã Khác")
    make.case_in("district_verification", name="Hộ Đã Lên Huyện")
    late, _ = make.case_in("commune_review", name="Hộ Trễ Hạn")
    db.session.execute(
        update(Case).where(Case.id == late.id).values(due_at=utcnow() - timedelta(days=10))
    )
    db.session.commit()
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    body = text(commune.get("/queue"))
    assert "Hộ Của Tôi" in body and "Hộ Trễ Hạn" in body
    assert "Hộ Xã Khác" not in body and "Hộ Đã Lên Huyện" not in body
    assert "Quá hạn" in body and "Còn 10 ngày làm việc" in body
    assert body.index("Hộ Trễ Hạn") < body.index("Hộ Của Tôi")  # soonest due first
    overdue = text(commune.get("/queue?overdue=1"))
    assert "Hộ Trễ Hạn" in overdue and "Hộ Của Tôi" not in overdue
    district = text(as_user(make.reviewer("district_reviewer", DISTRICT)).get("/queue"))
    assert "Hộ Đã Lên Huyện" in district and "Hộ Của Tôi" not in district


def test_queue_pages_walk_every_case_once_by_keyset(as_user, make, ctx):
    ids = {make.case_in("commune_review")[0].id for _ in range(5)}
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    ctx.config["QUEUE_PAGE_SIZE"] = 2
    try:
        seen, url, pages = [], "/queue", []
        while url:
            body = text(commune.get(url))
            pages.append(url)
            seen += [
                int(i) for i in __import__("re").findall(r'name="case_id" value="(\d+)"', body)
            ]
            found = __import__("re").search(r'href="(/queue\?after=[^"]+)"', body)
            url = found.group(1).replace("&amp;", "&") if found else None
        back = text(commune.get(pages[-1]))
        assert "Trang trước" in back
    finally:
        ctx.config["QUEUE_PAGE_SIZE"] = 50
    assert sorted(seen) == sorted(ids) and len(pages) == 3


def test_bulk_approval_lists_what_went_through_and_what_did_not(as_user, make):
    cases = [make.case_in("commune_review")[0] for _ in range(3)]
    colleague = make.user("commune_reviewer", COMMUNE)
    claim_case(cases[0].id, colleague)
    db.session.commit()
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    response = commune.post(
        "/queue/bulk", {"trigger": "approve", "case_id": [str(c.id) for c in cases]}
    )
    job_page = text(commune.get(response.headers["Location"]))
    assert "2 hồ sơ đã xử lý xong, 1 hồ sơ không xử lý được" in job_page
    assert "cán bộ khác nhận xử lý" in job_page
    no_comment = commune.post(
        "/queue/bulk", {"trigger": "return_to_applicant", "case_id": [str(cases[0].id)]}
    )
    assert no_comment.status_code == 422 and "Cần ghi ý kiến" in text(no_comment)


def test_bulk_over_the_threshold_runs_as_a_background_job(as_user, make, ctx):
    cases = [make.case_in("commune_review")[0] for _ in range(3)]
    commune_user = make.reviewer("commune_reviewer", COMMUNE)
    commune = as_user(commune_user)
    started = []
    ctx.config["BULK_BACKGROUND_THRESHOLD"] = 2
    ctx.extensions.setdefault("htsd_job_runners", {})[names.RUN_BULK_JOB] = started.append
    try:
        response = commune.post(
            "/queue/bulk", {"trigger": "approve", "selection": "filter", "confirmed": "1"}
        )
    finally:
        ctx.config["BULK_BACKGROUND_THRESHOLD"] = 300
        ctx.extensions["htsd_job_runners"].pop(names.RUN_BULK_JOB)
    job_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert started == [job_id]
    waiting = commune.get(f"/bulk/{job_id}")
    assert "<progress" in text(waiting)
    assert commune.get(f"/bulk/{job_id}/status").json["finished"] is False
    run_job(BULK_JOB, job_id, chunk=2)
    run_job(BULK_JOB, job_id)  # a retried task does nothing twice
    status = commune.get(f"/bulk/{job_id}/status").json
    assert status == {
        "status": "done",
        "total": 3,
        "done": 3,
        "succeeded": 3,
        "failed": 0,
        "finished": True,
        "label": None,
    }
    db.session.expire_all()
    assert {db.session.get(Case, c.id).state for c in cases} == {"district_verification"}
    assert as_user(make.user("commune_reviewer", COMMUNE)).get(f"/bulk/{job_id}").status_code == 404
    assert db.session.get(BulkJob, job_id).succeeded == 3


def test_search_ignores_diacritics_and_stays_in_scope(as_user, make):
    mine = make.subject("family", COMMUNE, name="Hộ Đinh Thị Hoà")
    make.subject("family", OTHER_COMMUNE_SAME_DISTRICT, name="Hộ Đinh Thị Hoà Khác")
    commune = as_user(make.user("commune_reviewer", COMMUNE))
    body = text(commune.get("/search?q=dinh thi hoa"))
    assert f"/subjects/{mine.id}" in body and "Hoà Khác" not in body
    province = text(as_user(make.user("province_officer", PROVINCE)).get("/search?q=dak ha"))
    assert "Đắk Hà" in province


def test_manager_overview_counts_by_stage_and_overdue(as_user, make):
    make.case_in("commune_review")
    late, _ = make.case_in("district_verification")
    db.session.execute(
        update(Case).where(Case.id == late.id).values(due_at=utcnow() - timedelta(days=3))
    )
    db.session.commit()
    page = text(as_user(make.user("manager", DISTRICT)).get("/overview"))
    assert "Chờ xã xét duyệt" in page and "Chờ huyện thẩm định" in page
    assert "state=district_verification&amp;overdue=1" in page
    assert as_user(make.user("commune_reviewer", COMMUNE)).get("/overview").status_code == 403


def test_admin_creates_a_user_changes_territory_and_deactivates(as_user, make):
    admin = as_user(make.user("admin", PROVINCE))
    wrong_level = admin.post(
        "/admin/users/new",
        {"username": "xa-moi", "role": "commune_reviewer", "unit_code": DISTRICT},
    )
    assert wrong_level.status_code == 422 and 'value="xa-moi"' in text(wrong_level)
    created = admin.post(
        "/admin/users/new",
        {
            "username": "xa-moi",
            "full_name": "Cán bộ mới",
            "role": "commune_reviewer",
            "unit_code": COMMUNE,
        },
    )
    assert created.status_code == 200 and "Mật khẩu tạm" in text(created)
    user = db.session.scalar(select(User).where(User.username == "xa-moi"))
    assert user.must_change_password and user.unit_code == COMMUNE
    case, _ = make.case_in("commune_review")
    claim_case(case.id, user)
    db.session.commit()
    admin.post(
        f"/admin/users/{user.id}",
        {
            "role": "commune_reviewer",
            "unit_code": OTHER_COMMUNE_SAME_DISTRICT,
            "full_name": "Cán bộ mới",
        },
    )
    db.session.expire_all()
    assert db.session.get(User, user.id).unit_code == OTHER_COMMUNE_SAME_DISTRICT
    assert db.session.get(Case, case.id).claimed_by_id is None  # moved: claims go back
    admin.post(f"/admin/users/{user.id}/deactivate")
    db.session.expire_all()
    assert not db.session.get(User, user.id).is_active
    assert as_user(make.user("manager", PROVINCE)).get("/admin/users").status_code == 403


def test_removing_a_file_keeps_the_scores_typed_since_the_last_save(as_user, make):
    case, applicant = make.draft(complete=False)
    household = as_user(applicant)
    data = assessment_form(case, {"1.1": "10"})
    data["files-1.1"] = [(io.BytesIO(JPEG), "giay-khen.jpg")]
    household.post(f"/cases/{case.id}/assessment", data, content_type="multipart/form-data")
    attachment = db.session.scalar(select(Attachment).where(Attachment.case_id == case.id))
    # the applicant types another score, then presses "Gỡ" on the file before saving
    data = assessment_form(db.session.get(Case, case.id), {"1.1": "10", "2.2": "15"})
    data["remove_file"] = str(attachment.id)
    response = household.post(f"/cases/{case.id}/assessment", data)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(Attachment).where(Attachment.case_id == case.id)) is None
    score = db.session.scalar(
        select(AssessmentItem.score).where(
            AssessmentItem.case_id == case.id, AssessmentItem.code == "2.2"
        )
    )
    assert score == 15


def test_a_file_whose_save_is_rolled_back_does_not_stay_on_disk(make, ctx):
    case, applicant = make.draft(complete=False)
    attachment = add_attachment(case.id, "1.1", io.BytesIO(JPEG), "anh.jpg", applicant)
    path = stored_path(case.id, attachment.stored_name)
    assert path.exists()
    db.session.rollback()  # e.g. the commit failed: the record is gone, so is the file
    assert not path.exists()
    kept = add_attachment(case.id, "1.1", io.BytesIO(JPEG), "anh.jpg", applicant)
    db.session.commit()
    db.session.rollback()  # nothing to roll back: a committed file stays
    assert stored_path(case.id, kept.stored_name).exists()


def _queue_row(body: str, case_id: int) -> str:
    """The table row of one case on a queue page."""
    for row in body.split("<tr")[1:]:
        if f'name="case_id" value="{case_id}"' in row:
            return row.split("</tr>")[0]
    raise AssertionError(f"no row for case {case_id}")


def test_queue_rows_show_each_case_s_link_dates_points_badge_and_claim(as_user, make, ctx):
    from flask import url_for
    from flask_babel import force_locale, format_decimal, gettext, ngettext
    from markupsafe import escape

    from htsd_workflow.core.calendar import get_calendar
    from htsd_workflow.core.labels import TITLE_LABELS
    from htsd_workflow.core.time import to_local

    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    colleague = make.user("commune_reviewer", COMMUNE)
    mine, _ = make.case_in("commune_review", name='Hộ <b>"Lê" & Con</b>')
    late, _ = make.case_in("commune_review", kind="clan", name="Dòng họ Trễ")
    taken, _ = make.case_in("commune_review", name="Hộ Người Khác Nhận")
    free, _ = make.case_in("commune_review", name="Hộ Chưa Ai Nhận")
    claim_case(mine.id, reviewer)
    claim_case(taken.id, colleague)
    db.session.execute(
        update(Case)
        .where(Case.id == late.id)
        .values(
            due_at=utcnow() - timedelta(days=10), is_escalated=True, self_score=1234.5, score=1234.5
        )
    )
    db.session.commit()
    cases = [db.session.get(Case, c.id) for c in (mine, late, taken, free)]
    names = {
        mine.id: 'Hộ <b>"Lê" & Con</b>',
        late.id: "Dòng họ Trễ",
        taken.id: "Hộ Người Khác Nhận",
        free.id: "Hộ Chưa Ai Nhận",
    }
    for language in ("vi", "en"):
        browser = as_user(reviewer)
        with browser.client.session_transaction() as session:
            session["lang"] = language
        body = text(browser.get("/queue"))
        now = utcnow()
        with ctx.test_request_context("/queue"), force_locale(language):
            for case in cases:
                row = _queue_row(body, case.id)
                link = url_for("cases.show", case_id=case.id, back="/queue")
                assert f'<a href="{escape(link)}">{escape(names[case.id])}</a>' in row
                assert f"{TITLE_LABELS[case.title]} {case.year}" in row
                assert to_local(case.submitted_at).strftime("%d/%m/%Y") in row
                due_day = to_local(case.due_at).strftime("%d/%m/%Y")
                if case.id == late.id:
                    days = get_calendar().working_days_late(case.due_at, now)
                    badge = ngettext(
                        "Quá hạn %(num)s ngày làm việc", "Quá hạn %(num)s ngày làm việc", days
                    )
                    assert f'{due_day}<br><span class="due overdue">{badge}</span>' in row
                    assert row.startswith(' class="overdue">')
                    assert f">{format_decimal(1234.5, format='#,##0.##')}<br>" in row
                    assert ("Escalated" if language == "en" else "Đã báo cáo cấp trên") in row
                else:
                    days = get_calendar().working_days_left(case.due_at, now)
                    badge = (
                        ngettext("Còn %(num)s ngày làm việc", "Còn %(num)s ngày làm việc", days)
                        if days
                        else gettext("Đến hạn hôm nay")
                    )
                    assert f'{due_day}<br><span class="due">{badge}</span>' in row
                    assert f">{format_decimal(case.score, format='#,##0.##')}<br>" in row
            release = url_for("cases.release", case_id=mine.id)
            assert f'formaction="{release}"' in _queue_row(body, mine.id)
            assert "formaction" not in _queue_row(body, taken.id)
            assert colleague.username in _queue_row(body, taken.id)
            claim = url_for("cases.claim", case_id=free.id)
            assert f'formaction="{claim}"' in _queue_row(body, free.id)
        assert ("Passes" if language == "en" else "Đạt") in body


def test_a_queue_page_sends_the_user_the_page_and_the_count_only(as_user, make, ctx):
    from sqlalchemy import event

    for _ in range(3):
        make.case_in("commune_review")
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    district = as_user(make.reviewer("district_reviewer", DISTRICT))
    # + the district's communes; + 1 for the signed-in user read with the menu's unread count
    # (a server reads the user on every request; this test's session used to keep it)
    for browser, most in ((commune, 4), (district, 5)):
        browser.get("/queue")  # the calendar's exceptions are read once a minute
        statements = []

        def count(_conn, _cursor, statement, *_args, found=statements):
            found.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            assert browser.get("/queue").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert len(statements) <= most, statements


def test_a_comment_on_an_approval_or_a_recognition_is_no_return_banner(as_user, make):
    case, applicant = make.case_in("district_verification")
    district = make.reviewer("district_reviewer", DISTRICT)
    fire_trigger(case.id, "approve", district, comment="Hồ sơ tốt, chuyển tỉnh")
    db.session.commit()
    household = as_user(applicant)
    page = text(household.get(f"/cases/{case.id}"))
    assert "Hồ sơ tốt, chuyển tỉnh" in page  # still in the history
    assert "Hồ sơ được trả lại để bổ sung" not in page
    for role in ("education_reviewer", "culture_reviewer"):
        fire_trigger(case.id, "sign", make.reviewer(role), comment="Đồng ý công nhận")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "recognized"
    page = text(household.get(f"/cases/{case.id}"))
    assert "Đồng ý công nhận" in page
    assert "Hồ sơ được trả lại để bổ sung" not in page


def test_the_return_banner_goes_once_the_case_is_sent_again(as_user, make):
    case, applicant = make.case_in("commune_review")
    fire_trigger(
        case.id, "return_to_applicant", make.reviewer("commune_reviewer", COMMUNE), comment="Thiếu"
    )
    db.session.commit()
    household = as_user(applicant)
    assert "Hồ sơ được trả lại để bổ sung" in text(household.get(f"/cases/{case.id}"))
    fire_trigger(case.id, "resubmit", applicant)
    db.session.commit()
    assert "Hồ sơ được trả lại để bổ sung" not in text(household.get(f"/cases/{case.id}"))


@pytest.mark.pinned_clock
def test_reviewer_extends_the_deadline_from_the_case_page_once(as_user, make):
    case, applicant = make.case_in("commune_review")
    commune = as_user(make.reviewer("commune_reviewer", COMMUNE))
    page = text(commune.get(f"/cases/{case.id}"))
    assert f'action="/cases/{case.id}/extensions"' in page
    assert f'action="/cases/{case.id}/extensions"' not in text(
        as_user(applicant).get(f"/cases/{case.id}")
    )
    no_reason = commune.post(f"/cases/{case.id}/extensions", {"working_days": "5", "reason": ""})
    assert no_reason.status_code == 422 and "Cần ghi lý do gia hạn" in text(no_reason)
    too_long = commune.post(f"/cases/{case.id}/extensions", {"working_days": "45", "reason": "x"})
    assert too_long.status_code == 422
    db.session.expire_all()
    assert not db.session.get(Case, case.id).is_extended
    done = commune.post(
        f"/cases/{case.id}/extensions", {"working_days": "5", "reason": "Chờ họp thôn"}
    )
    assert done.status_code == 302
    page = text(commune.get(f"/cases/{case.id}"))
    assert "28/12/2026" in page  # Monday 21 + five working days
    assert "Chờ họp thôn" in page and "extend_deadline" not in page
    assert f'action="/cases/{case.id}/extensions"' not in page  # once per stage
    again = commune.post(f"/cases/{case.id}/extensions", {"working_days": "2", "reason": "Nữa"})
    assert again.status_code == 409
    db.session.expire_all()
    assert db.session.get(Case, case.id).due_at == datetime(2026, 12, 28, 10)
    told = db.session.scalars(
        select(OutboxMessage.kind).where(OutboxMessage.case_id == case.id)
    ).all()
    assert told.count("extend_deadline") == 1  # the applicant is told (recipients: tests/api)


def test_one_department_claiming_and_signing_leaves_the_other_its_part(as_user, make):
    """Issue 18.1: education presses "Nhận xử lý", then "Ký xác nhận"; culture still has its
    buttons, sees who holds which part, claims and bulk-signs its own part."""
    case, _ = make.case_in("provincial_confirmation")
    education = as_user(make.user("education_reviewer", PROVINCE, full_name="Chị Hà"))
    culture_user = make.user("culture_reviewer", PROVINCE, full_name="Anh Minh")
    culture = as_user(culture_user)
    assert education.post(f"/cases/{case.id}/claim").status_code == 302
    page = text(culture.get(f"/cases/{case.id}"))
    assert 'name="trigger" value="sign"' in page
    assert "đang do" not in page
    assert "Chị Hà" in page  # who holds education's part
    row = _queue_row(text(culture.get("/queue")), case.id)
    assert "Chị Hà" in row and "/claim" in row  # culture's part is free to claim
    signed = education.post(f"/cases/{case.id}/actions", {"trigger": "sign"})
    assert signed.status_code == 302
    page = text(culture.get(f"/cases/{case.id}"))
    assert 'name="trigger" value="sign"' in page and "Chị Hà" not in page.split("Lịch sử")[0]
    assert culture.post(f"/cases/{case.id}/claim").status_code == 302
    assert case.id in [
        int(r.split('value="')[1].split('"')[0])
        for r in text(culture.get("/queue?claim=mine")).split('name="case_id"')[1:]
    ]
    done = culture.post(
        "/queue/bulk", {"trigger": "sign", "selection": "selected", "case_id": str(case.id)}
    )
    assert done.status_code in (200, 302)
    db.session.expire_all()
    assert db.session.get(Case, case.id).state == "recognized"
