"""A village's households registered and entered in one grid (issue 25), through the pages."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

from sqlalchemy import select, update

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.auth.models import User
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case, CaseEvent, Round
from htsd_workflow.cases.operations import ensure_round, fire_trigger, set_round, start_case
from htsd_workflow.cases.rounds import record_meeting, register_households
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT

YEAR = 2026


def _village(make, households=3, name="Thôn Kon Rơ Wang"):
    village = make.subject("community", COMMUNE, name=name)
    homes = [
        make.subject("family", COMMUNE, community_id=village.id, name=f"Hộ A Thoa {n}")
        for n in range(households)
    ]
    return village, homes


def _signed_in(as_user, user):
    user.must_change_password = False
    db.session.commit()
    return as_user(user)


def test_a_village_head_registers_enters_and_sends_from_the_grid(ctx, make, as_user):
    village, homes = _village(make)
    ensure_round("family", YEAR)
    head = make.user("village_head", subject_id=village.id)
    browser = _signed_in(as_user, head)
    start = browser.get("/villages")  # their start page: their own village
    assert start.status_code == 200
    page = start.get_data(as_text=True)
    assert all(h.name in page for h in homes) and "Bảng nhập điểm" in page

    response = browser.post(
        f"/villages/{village.id}/register", data={"subject_id": [str(h.id) for h in homes]}
    )
    assert response.status_code == 303
    cases = db.session.scalars(select(Case).where(Case.year == YEAR).order_by(Case.id)).all()
    assert [c.subject_id for c in cases] == [h.id for h in homes]

    items = get_registry().criteria_set(cases[0].criteria_set_id).items
    form = {"case_id": [str(c.id) for c in cases], "action": "send"}
    for case in cases:
        form[f"version-{case.id}"] = str(case.version)
    for item in items:  # the first two households complete, the third one item short
        for case in cases[:2]:
            form[f"score-{case.id}-{item.code}"] = str(item.max_points)
        if item is not items[-1]:
            form[f"score-{cases[2].id}-{item.code}"] = "5"
    response = browser.post(f"/villages/{village.id}/grid", data=form)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "data-grid-problems" in body and f"HS-{cases[2].id}" in body
    db.session.expire_all()
    states = [db.session.get(Case, c.id).state for c in cases]
    assert states == ["commune_review", "commune_review", "draft"]
    assert db.session.get(Case, cases[2].id).self_score == 5 * (len(items) - 1)
    sources = db.session.scalars(
        select(CaseEvent.data).where(
            CaseEvent.case_id == cases[0].id, CaseEvent.trigger == "assess"
        )
    ).all()
    assert sources[0]["source"] == {"via": "grid", "row": 1}


def test_a_village_head_cannot_open_another_village(ctx, make, as_user):
    own, _ = _village(make, 1)
    other, other_homes = _village(make, 1, name="Thôn Khác Zqx")
    ensure_round("family", YEAR)
    head = make.user("village_head", subject_id=own.id)
    browser = _signed_in(as_user, head)
    assert browser.get(f"/villages/{other.id}").status_code == 404
    response = browser.post(
        f"/villages/{other.id}/register", data={"subject_id": [str(other_homes[0].id)]}
    )
    assert response.status_code == 404
    assert db.session.scalar(select(Case.id)) is None


def test_a_commune_officer_lists_the_villages_of_the_commune(ctx, make, as_user):
    village, _ = _village(make, 1)
    officer = make.user("commune_reviewer", COMMUNE)
    page = _signed_in(as_user, officer).get("/villages").get_data(as_text=True)
    assert village.name in page


def test_a_province_officer_opens_changes_and_closes_a_round_on_the_page(ctx, make, as_user):
    officer = make.user("province_officer")
    browser = _signed_in(as_user, officer)
    response = browser.post(
        "/rounds",
        data={
            "title": "family",
            "year": "2027",
            "registration_opens_on": "2027-01-01",
            "registration_closes_on": "2027-03-31",
            "review_deadline": "2027-11-30",
        },
    )
    assert response.status_code == 303
    found = db.session.scalar(select(Round).where(Round.year == 2027))
    assert found.registration_closes_on.isoformat() == "2027-03-31"
    browser.post("/rounds", data={"round_id": str(found.id), "review_deadline": "2027-12-15"})
    db.session.expire_all()
    assert db.session.get(Round, found.id).review_deadline.isoformat() == "2027-12-15"
    refused = browser.post(
        "/rounds", data={"round_id": str(found.id), "review_deadline": "2027-01-02"}
    )
    assert refused.status_code == 303
    db.session.expire_all()
    assert db.session.get(Round, found.id).review_deadline.isoformat() == "2027-12-15"
    audited = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.target == f"round:{found.id}")
    ).all()
    assert sorted(audited) == ["round_changed", "round_opened"]
    head_page = _signed_in(as_user, make.user("commune_reviewer", COMMUNE)).get("/rounds")
    assert head_page.status_code == 200 and "Mở đợt mới" not in head_page.get_data(as_text=True)


def test_a_household_sees_the_round_s_dates_and_why_the_start_button_is_gone(ctx, make, as_user):
    household = make.subject("family", COMMUNE)
    applicant = make.applicant(household)
    set_round("family", YEAR, date(2026, 1, 1), date(2026, 12, 31), date(2027, 1, 31))
    browser = _signed_in(as_user, applicant)
    page = browser.get("/my").get_data(as_text=True)
    assert "đăng ký từ 01/01/2026 đến hết 31/12/2026" in page
    assert "Bắt đầu tự đánh giá <small>(hạn đăng ký đến hết 31/12/2026)" in page
    assert "data-registration-closed" not in page
    set_round("family", YEAR, date(2026, 1, 1), date(2026, 11, 30), date(2027, 1, 31))
    db.session.commit()
    page = browser.get("/my").get_data(as_text=True)
    assert "Bắt đầu tự đánh giá <small>" not in page and 'name="year"' not in page
    assert "đã đóng ngày 30/11/2026" in page


def test_the_commune_reviewer_sees_the_village_meeting_with_the_case(ctx, make, as_user):
    village, homes = _village(make, 1)
    round_ = ensure_round("family", YEAR)
    head = make.user("village_head", subject_id=village.id)
    case = start_case(homes[0].id, "family", YEAR, head)
    make.fill(case, head)
    fire_trigger(case.id, "submit", head)
    record_meeting(
        village.id,
        round_.id,
        held_on=date(2026, 12, 1),
        chair="Ông A Nhương",
        secretary="Bà Y Liên",
        attendance=40,
        votes=[{"subject_id": homes[0].id, "votes_for": 30, "present": 40}],
        actor=head,
    )
    db.session.commit()
    officer = make.user("commune_reviewer", COMMUNE)
    page = _signed_in(as_user, officer).get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Kết quả họp bình xét ở thôn" in page
    assert "30/40 phiếu đồng ý (75%)" in page


def test_last_year_s_assessment_is_copied_into_a_draft_and_marked_as_copied(ctx, make, as_user):
    household = make.subject("family", COMMUNE)
    applicant = make.applicant(household)
    set_round("family", 2025, date(2025, 1, 1), date(2026, 12, 31), date(2027, 1, 31))
    last = start_case(household.id, "family", 2025, applicant)
    make.fill(last, applicant, fraction=0.8)
    draft = start_case(household.id, "family", YEAR, applicant)
    db.session.commit()
    browser = _signed_in(as_user, applicant)
    page = browser.get(f"/cases/{draft.id}/assessment").get_data(as_text=True)
    assert "Chép bản tự đánh giá năm 2025" in page
    response = browser.post(f"/cases/{draft.id}/copy-last-year")
    assert response.status_code == 303
    db.session.expire_all()
    copied = {i.code: (i.score, i.evidence) for i in db.session.get(Case, draft.id).items}
    before = {i.code: (i.score, i.evidence) for i in db.session.get(Case, last.id).items}
    assert copied == before and all(score for score, _ in copied.values())
    page = browser.get(f"/cases/{draft.id}/assessment").get_data(as_text=True)
    assert f"chép từ hồ sơ HS-{last.id} năm trước" in page
    event = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == draft.id, CaseEvent.trigger == "assess")
    ).one()
    assert event.data["source"] == {"via": "copy", "from_case": last.id, "year": 2025}


def test_copying_needs_a_previous_case_in_the_user_s_scope(ctx, make, as_user):
    household = make.subject("family", COMMUNE)
    applicant = make.applicant(household)
    draft = start_case(household.id, "family", YEAR, applicant)
    db.session.commit()
    browser = _signed_in(as_user, applicant)
    assert browser.post(f"/cases/{draft.id}/copy-last-year").status_code == 303
    stranger = make.applicant(make.subject("family", COMMUNE))
    assert (
        _signed_in(as_user, stranger).post(f"/cases/{draft.id}/copy-last-year").status_code == 404
    )


def _figure(page: str, name: str) -> int:
    found = re.search(rf'data-figure="{name}">(\d+)<', page)
    return int(found.group(1))


def test_the_commune_dashboard_is_the_officer_s_start_page_and_moves_with_the_village(
    ctx, make, as_user
):
    village, homes = _village(make, 2)
    round_ = ensure_round("family", YEAR)
    head = make.user("village_head", subject_id=village.id)
    officer = make.user("commune_reviewer", COMMUNE)
    browser = _signed_in(as_user, officer)
    assert browser.get("/").location.endswith("/rounds/commune")
    page = browser.get("/rounds/commune").get_data(as_text=True)
    assert _figure(page, "registered") == 0 and _figure(page, "commune_review") == 0
    register_households(round_.id, [h.id for h in homes], head)
    case = db.session.scalar(select(Case).where(Case.subject_id == homes[0].id))
    make.fill(case, head)
    fire_trigger(case.id, "submit", head)
    db.session.commit()
    page = browser.get("/rounds/commune").get_data(as_text=True)
    assert _figure(page, "registered") == 2
    assert _figure(page, "submitted") == 1 and _figure(page, "commune_review") == 1
    assert homes[0].name in page and village.name in page  # waiting on them; by village
    progress = browser.get(f"/rounds/{round_.id}/progress").get_data(as_text=True)
    assert "Phường Quang Trung" in progress


def test_the_commune_dashboard_counts_only_the_officer_s_commune(ctx, make, as_user):
    round_ = ensure_round("family", YEAR)
    other = make.subject("community", OTHER_COMMUNE_SAME_DISTRICT, name="Thôn Khác")
    home = make.subject("family", OTHER_COMMUNE_SAME_DISTRICT, community_id=other.id)
    register_households(round_.id, [home.id], make.user("village_head", subject_id=other.id))
    db.session.commit()
    officer = make.user("commune_reviewer", COMMUNE)
    page = _signed_in(as_user, officer).get("/rounds/commune").get_data(as_text=True)
    assert _figure(page, "registered") == 0 and "Thôn Khác" not in page


def test_an_admin_creates_a_village_head_bound_to_a_village(ctx, make, as_user):
    village, _ = _village(make, 1)
    household = make.subject("family", COMMUNE)
    admin = _signed_in(as_user, make.user("admin", "62"))
    refused = admin.post(
        "/admin/users/new",
        {"username": "thon-sai", "role": "village_head", "subject_id": str(household.id)},
    )
    assert refused.status_code == 422
    import_province("64")  # a village of another province is not the admin's to bind
    far = make.subject("community", "23557", name="Thôn Tỉnh Khác")
    refused = admin.post(
        "/admin/users/new",
        {"username": "thon-xa", "role": "village_head", "subject_id": str(far.id)},
    )
    assert refused.status_code == 422
    assert db.session.scalar(select(User.id).where(User.username == "thon-xa")) is None
    created = admin.post(
        "/admin/users/new",
        {"username": "thon-moi", "role": "village_head", "subject_id": str(village.id)},
    )
    assert created.status_code == 200, created.get_data(as_text=True)[:500]
    user = db.session.scalar(select(User).where(User.username == "thon-moi"))
    assert (user.role, user.subject_id, user.unit_code) == ("village_head", village.id, COMMUNE)


def test_a_subject_s_page_shows_its_recognitions_over_the_years(ctx, make, as_user):
    set_round("family", 2025, date(2025, 1, 1), date(2026, 12, 31), date(2027, 1, 31))
    household = make.subject("family", COMMUNE)
    applicant = make.applicant(household)
    last = start_case(household.id, "family", 2025, applicant)
    this = start_case(household.id, "family", YEAR, applicant)
    # the recognitions themselves are the workflow's business; here only the page's reading
    db.session.execute(
        update(Case).where(Case.id.in_([last.id, this.id])).values(state="recognized")
    )
    db.session.commit()
    page = _signed_in(as_user, applicant).get("/my").get_data(as_text=True)
    assert "Đã được công nhận các năm: 2025, 2026" in page and "2 năm liền" in page


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # a PNG by its first bytes (Pillow cannot read it)


def test_a_village_head_records_the_meeting_with_its_minutes_on_a_page(ctx, make, as_user):
    from htsd_workflow.cases.models import VillageMeeting, VillageMeetingVote

    village, homes = _village(make)
    round_ = ensure_round("family", YEAR)
    head = make.user("village_head", subject_id=village.id)
    register_households(round_.id, [h.id for h in homes], head)
    db.session.commit()
    browser = _signed_in(as_user, head)
    assert "data-meeting-link" in browser.get(f"/villages/{village.id}").get_data(as_text=True)
    form = {
        "held_on": "2026-03-10",
        "chair": "A Blong",
        "secretary": "Y Nhi",
        "attendance": "40",
        f"for-{homes[0].id}": "35",
        f"present-{homes[0].id}": "38",
        f"for-{homes[1].id}": "39",  # more for than present
        f"present-{homes[1].id}": "38",
    }
    response = browser.post(
        f"/villages/{village.id}/meeting",
        data={**form, "minutes": (io.BytesIO(PNG), "bien-ban.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert homes[1].name in page and "số người biểu quyết" in page and 'value="A Blong"' in page
    assert db.session.scalar(select(VillageMeeting.id)) is None
    assert not list((Path(ctx.config["UPLOAD_FOLDER"]) / "meetings").glob("*"))  # file gone

    form[f"for-{homes[1].id}"] = "30"
    response = browser.post(
        f"/villages/{village.id}/meeting",
        data={**form, "minutes": (io.BytesIO(PNG), "bien-ban.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    meeting = db.session.scalar(select(VillageMeeting))
    assert (meeting.chair, meeting.attendance, meeting.recorded_by_id) == ("A Blong", 40, head.id)
    votes = {
        v.subject_id: (v.votes_for, v.present)
        for v in db.session.scalars(select(VillageMeetingVote))
    }
    assert votes == {homes[0].id: (35, 38), homes[1].id: (30, 38)}
    page = browser.get(f"/villages/{village.id}/meeting").get_data(as_text=True)
    assert "data-meeting" in page and "Xem biên bản" in page
    minutes = browser.get(f"/villages/{village.id}/meeting/minutes")
    assert minutes.status_code == 200 and minutes.data == PNG
    # a second record is refused; nothing changes
    again = browser.post(f"/villages/{village.id}/meeting", data=form)
    assert again.status_code == 409
    # not a scan or a photo: refused, naming the file
    other, other_homes = _village(make, households=1, name="Thôn 2")
    register_households(round_.id, [other_homes[0].id], make.user("commune_reviewer", COMMUNE))
    officer = make.user("commune_reviewer", COMMUNE)
    db.session.commit()
    response = _signed_in(as_user, officer).post(
        f"/villages/{other.id}/meeting",
        data={
            **{k: v for k, v in form.items() if not k.startswith(("for-", "present-"))},
            "minutes": (io.BytesIO(b"MZ not a scan"), "virus.exe"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422 and "virus.exe" in response.get_data(as_text=True)
    # another village's meeting is not the head's
    assert browser.get(f"/villages/{other.id}/meeting").status_code == 404


def test_the_commune_dashboard_shows_the_plan_s_target_for_the_commune(ctx, make, as_user):
    from htsd_workflow.reports.models import Denominator
    from htsd_workflow.reports.targets import commune_target

    ensure_round("family", YEAR)
    officer = make.user("commune_reviewer", COMMUNE)
    browser = _signed_in(as_user, officer)
    page = browser.get("/rounds/commune").get_data(as_text=True)
    assert "data-commune-target" in page
    row = commune_target(COMMUNE, "family", YEAR)["row"]
    assert row["target"] is not None  # Kon Tum's plan, carried past its end
    assert "Chưa nhập tổng số hộ" in page
    db.session.add(Denominator(unit_code=COMMUNE, year=YEAR, title="family", count=200))
    db.session.commit()
    page = browser.get("/rounds/commune").get_data(as_text=True)
    assert "0 trên 200 hộ được công nhận" in page and "Còn thiếu" in page


def test_the_commune_s_own_deadline_is_set_on_the_page_and_used_on_its_dashboard(
    ctx, make, as_user
):
    province = _signed_in(as_user, make.user("province_officer"))
    round_ = ensure_round("family", YEAR)
    village, homes = _village(make, 1)  # registered and sent while registration is open
    head = make.user("village_head", subject_id=village.id)
    register_households(round_.id, [homes[0].id], head)
    case = db.session.scalar(select(Case).where(Case.subject_id == homes[0].id))
    make.fill(case, head)
    fire_trigger(case.id, "submit", head)
    db.session.commit()
    response = province.post(
        "/rounds",
        data={
            "round_id": str(round_.id),
            "registration_opens_on": "2026-01-01",
            "registration_closes_on": "2026-03-31",
            "review_deadline": "2026-12-15",
            "deadline_commune": "2026-04-30",
            "deadline_province": "2026-11-30",
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Round, round_.id).level_deadlines == {
        "commune": "2026-04-30",
        "province": "2026-11-30",
    }
    page = province.get("/rounds").get_data(as_text=True)
    assert 'value="2026-04-30"' in page
    # a commune deadline before registration closes is refused, and nothing changes
    province.post(
        "/rounds",
        data={"round_id": str(round_.id), "deadline_commune": "2026-02-01"},
    )
    db.session.expire_all()
    assert db.session.get(Round, round_.id).deadline_of("commune") == date(2026, 4, 30)

    officer = _signed_in(as_user, make.user("commune_reviewer", COMMUNE))
    page = officer.get("/rounds/commune").get_data(as_text=True)
    deadline = re.search(r"data-commune-deadline>(.*?)</p>", page, re.S).group(1)
    assert "30/04/2026" in deadline
    from htsd_workflow.core.time import to_local, utcnow

    today = to_local(utcnow()).date()
    if today > date(2026, 4, 30):
        assert "1 hồ sơ còn chờ xã xét duyệt" in deadline
    else:
        assert "còn" in deadline or "hôm nay" in deadline
