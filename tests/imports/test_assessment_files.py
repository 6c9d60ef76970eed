"""A village's self-assessments from a spreadsheet (issue 25): the village's template, the
upload checked row by row and column by column like the other imports, all or nothing,
idempotent, large files in the worker, and each case's history naming the file and the row."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent
from htsd_workflow.cases.operations import ensure_round, fire_trigger
from htsd_workflow.cases.rounds import register_households
from htsd_workflow.extensions import db
from htsd_workflow.imports.assessments import criterion_header
from htsd_workflow.imports.models import ImportJob
from tests.clients import text
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT
from tests.imports.test_imports import csv_bytes, xlsx

YEAR = 2026


@pytest.fixture
def village(ctx, make):
    """A village of three registered households (codes H1..H3), a second village of the same
    commune with one (H9), its head, and the criteria of the round."""
    thon = make.subject("community", COMMUNE, name="Thôn Kon Rơ Wang", external_code="T1")
    homes = [
        make.subject(
            "family", COMMUNE, name=f"Hộ A Thoa {n}", community_id=thon.id, external_code=f"H{n}"
        )
        for n in (1, 2, 3)
    ]
    other = make.subject("community", COMMUNE, name="Thôn 2", external_code="T2")
    stranger = make.subject(
        "family", COMMUNE, name="Hộ Y Nhi", community_id=other.id, external_code="H9"
    )
    far_village = make.subject("community", OTHER_COMMUNE_SAME_DISTRICT, name="Thôn xa")
    far = make.subject(
        "family",
        OTHER_COMMUNE_SAME_DISTRICT,
        name="Hộ xa",
        community_id=far_village.id,
        external_code="H99",
    )
    round_ = ensure_round("family", YEAR)
    officer = make.user("commune_reviewer", COMMUNE)
    far_officer = make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT)
    register_households(round_.id, [h.id for h in [*homes, stranger]], officer)
    register_households(round_.id, [far.id], far_officer)
    head = make.user("village_head", subject_id=thon.id)
    for user in (officer, head):
        user.must_change_password = False
    db.session.commit()
    items = get_registry().criteria_for("family", YEAR).items
    return {
        "village": thon,
        "homes": homes,
        "head": head,
        "officer": officer,
        "items": items,
        "headers": ["Mã hộ", "Tên chủ hộ", *(criterion_header(i) for i in items)],
    }


def full_row(code, items, name="", less=0):
    return [code, name, *(i.max_points - less for i in items)]


def upload(browser, village_id, data, name="thon-1.xlsx"):
    return browser.post(
        f"/villages/{village_id}/assessments",
        data={"file": (data, name)},
        content_type="multipart/form-data",
    )


def job_of(response) -> ImportJob:
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    job_id = int(re.search(r"/imports/jobs/(\d+)", response.headers["Location"]).group(1))
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def scores_of(case_id):
    db.session.expire_all()
    return dict(
        db.session.execute(
            select(AssessmentItem.code, AssessmentItem.score).where(
                AssessmentItem.case_id == case_id
            )
        ).all()
    )


def case_of(subject):
    return db.session.scalar(select(Case).where(Case.subject_id == subject.id, Case.year == YEAR))


def events(case_id):
    return db.session.scalar(
        select(func.count()).where(CaseEvent.case_id == case_id, CaseEvent.trigger == "assess")
    )


def test_the_template_lists_the_villages_registered_households_and_explains_each_column(
    village, as_user
):
    response = as_user(village["head"]).get(f"/villages/{village['village'].id}/assessments.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    sheet = book.worksheets[0]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0] == village["headers"]
    assert [r[:2] for r in rows[1:]] == [[f"H{n}", f"Hộ A Thoa {n}"] for n in (1, 2, 3)]
    guide = [[c.value for c in row] for row in book["Hướng dẫn"].iter_rows()]
    explained = {r[0]: r[2] for r in guide if r and r[0]}
    for item in village["items"]:
        assert item.label in explained[criterion_header(item)]
        assert "Số từ 0 đến" in explained[criterion_header(item)]
    # another village's template is not found
    other = db.session.scalar(
        select(Case.subject_id).where(Case.subject_id.not_in([h.id for h in village["homes"]]))
    )
    assert as_user(village["head"]).get(f"/villages/{other}/assessments.xlsx").status_code == 404


def test_a_good_file_is_checked_then_saved_and_each_case_names_the_file_and_row(village, as_user):
    browser = as_user(village["head"])
    items = village["items"]
    rows = [full_row(f"H{n}", items, less=n - 1) for n in (1, 2, 3)]
    job = job_of(upload(browser, village["village"].id, xlsx(village["headers"], rows)))
    assert job.is_clean and job.total == 3
    case_1 = case_of(village["homes"][0])
    assert scores_of(case_1.id) == {i.code: None for i in items}  # nothing before confirming
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "Xác nhận nhập 3 dòng" in page
    assert browser.post(f"/imports/jobs/{job.id}/confirm").status_code == 302
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert (job.status, job.updated, job.unchanged) == ("done", 3, 0)
    assert scores_of(case_1.id) == {i.code: i.max_points for i in items}
    third = case_of(village["homes"][2])
    assert scores_of(third.id) == {i.code: i.max_points - 2 for i in items}
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == third.id, CaseEvent.trigger == "assess")
    )
    assert event.data["source"] == {"via": "file", "file": "thon-1.xlsx", "row": 4}
    assert event.actor_id == village["head"].id
    assert db.session.get(Case, third.id).state == "draft"  # the grid's "Gửi" sends it


def test_uploading_the_same_file_twice_changes_nothing_the_second_time(village, as_user):
    browser = as_user(village["officer"])
    rows = [full_row(f"H{n}", village["items"]) for n in (1, 2, 3)]
    for expected in ((3, 0), (0, 3)):
        job = job_of(upload(browser, village["village"].id, xlsx(village["headers"], rows)))
        browser.post(f"/imports/jobs/{job.id}/confirm")
        db.session.expire_all()
        job = db.session.get(ImportJob, job.id)
        assert (job.updated, job.unchanged) == expected
    case = case_of(village["homes"][0])
    assert events(case.id) == 1 and db.session.get(Case, case.id).version == case.version


def test_each_bad_row_and_column_is_named_with_what_to_fix_and_nothing_is_saved(village, as_user):
    browser = as_user(village["head"])
    items = village["items"]
    first, second = items[0], items[1]
    rows = [
        full_row("H1", items),
        [*full_row("H2", items)[:2], first.max_points + 1, "mười", *full_row("H2", items)[4:]],
        full_row("H1", items),  # the same household twice
        full_row("H9", items),  # another village's household
        full_row("X 1", items),  # not a code
        full_row("H404", items),  # no such household
        full_row("H3", items),
    ]
    job = job_of(upload(browser, village["village"].id, xlsx(village["headers"], rows)))
    assert job.status == "checked" and not job.is_clean
    found = {(e["row"], e["column"]): e["message"] for e in job.errors}
    assert "vượt quá điểm tối đa" in found[(3, criterion_header(first))]
    assert "phải là một số" in found[(3, criterion_header(second))]
    assert "trùng với dòng 2" in found[(4, "Mã hộ")]
    assert "không thuộc thôn của bạn" in found[(5, "Mã hộ")]
    assert "chỉ được gồm chữ, số" in found[(6, "Mã hộ")]
    assert "không thuộc thôn của bạn" in found[(7, "Mã hộ")]
    assert (8, "Mã hộ") not in found
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "Xác nhận nhập" not in page and criterion_header(first) in page
    assert browser.post(f"/imports/jobs/{job.id}/confirm").status_code == 409
    case = case_of(village["homes"][0])
    assert scores_of(case.id) == {i.code: None for i in items}


def test_a_sent_case_an_unregistered_household_and_a_missing_column_are_refused(
    village, as_user, make
):
    officer = village["officer"]
    items = village["items"]
    sent = case_of(village["homes"][2])
    make.fill(sent, officer)
    fire_trigger(sent.id, "submit", officer)
    newcomer = make.subject(
        "family", COMMUNE, community_id=village["village"].id, external_code="H4"
    )
    db.session.commit()
    browser = as_user(officer)
    rows = [full_row("H3", items), full_row("H4", items), full_row("H99", items)]
    job = job_of(upload(browser, village["village"].id, xlsx(village["headers"], rows)))
    found = {(e["row"], e["column"]): e["message"] for e in job.errors}
    assert "đã được gửi đi" in found[(2, "Mã hộ")]
    assert "chưa đăng ký đợt xét năm 2026" in found[(3, "Mã hộ")]
    assert "trong địa bàn bạn quản lý" in found[(4, "Mã hộ")]  # another commune
    assert newcomer.id
    headers = village["headers"][:-1]
    job = job_of(upload(browser, village["village"].id, csv_bytes(headers, [r[:-1] for r in rows])))
    assert "Tệp thiếu cột" in job.message and criterion_header(items[-1]) in job.message


def test_a_row_failing_as_it_is_saved_saves_no_row(village, as_user, monkeypatch):
    browser = as_user(village["head"])
    rows = [full_row(f"H{n}", village["items"]) for n in (1, 2, 3)]
    job = job_of(upload(browser, village["village"].id, xlsx(village["headers"], rows)))
    # between the check and the confirmation the third household's form is sent
    third = case_of(village["homes"][2])
    db.session.execute(
        Case.__table__.update().where(Case.id == third.id).values(state="commune_review")
    )
    db.session.commit()
    browser.post(f"/imports/jobs/{job.id}/confirm")
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "checked" and job.error_count == 1
    assert scores_of(case_of(village["homes"][0]).id) == {i.code: None for i in village["items"]}


def test_another_village_cannot_be_uploaded_to_and_the_imports_page_has_no_such_kind(
    village, as_user
):
    browser = as_user(village["head"])
    other = db.session.scalar(
        select(Case.subject_id).where(Case.subject_id.not_in([h.id for h in village["homes"]]))
    )
    response = upload(browser, other, xlsx(village["headers"], []))
    assert response.status_code == 404
    officer = as_user(village["officer"])
    assert officer.post("/imports/assessments", data={}).status_code == 404
    assert officer.get("/imports/assessments/template").status_code == 404


def test_a_large_file_is_checked_and_saved_in_the_worker_with_progress(
    village, as_user, ctx, monkeypatch
):
    started = []
    monkeypatch.setitem(ctx.config, "IMPORT_BACKGROUND_BYTES", 0)
    monkeypatch.setattr(
        "htsd_workflow.jobs.runner.run_in_background",
        lambda task, function, job_id: started.append((task, function, job_id)),
    )
    browser = as_user(village["head"])
    rows = [full_row(f"H{n}", village["items"]) for n in (1, 2, 3)]
    job = job_of(upload(browser, village["village"].id, xlsx(village["headers"], rows)))
    assert job.is_background and started[0][0] == "worker.tasks.check_import_task"
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "<progress" in page and "data-progress-url" in page
    started[0][1](job.id)
    status = browser.get(f"/imports/jobs/{job.id}/status").get_json()
    assert (status["finished"], status["status"], status["done"]) == (True, "checked", 3)
    browser.post(f"/imports/jobs/{job.id}/confirm")
    assert started[1][0] == "worker.tasks.run_import_task"
    started[1][1](job.id)
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).updated == 3
    case = case_of(village["homes"][1])
    assert scores_of(case.id) == {i.code: i.max_points for i in village["items"]}


def test_a_village_s_list_registers_its_households_all_or_nothing(ctx, make, as_user):
    thon = make.subject("community", COMMUNE, name="Thôn Đăk Rơ Wa", external_code="TW")
    homes = [
        make.subject("family", COMMUNE, community_id=thon.id, external_code=f"W{n}")
        for n in (1, 2, 3)
    ]
    other = make.subject("community", COMMUNE, name="Thôn khác")
    make.subject("family", COMMUNE, community_id=other.id, external_code="W9")
    ensure_round("family", YEAR)
    head = make.user("village_head", subject_id=thon.id)
    head.must_change_password = False
    db.session.commit()
    browser = as_user(head)

    def registered():
        db.session.expire_all()
        return set(db.session.scalars(select(Case.subject_id).where(Case.year == YEAR)))

    wrong = xlsx(["Mã hộ", "Tên chủ hộ"], [["W1", "A"], ["W9", "B"], ["W1", "C"]])
    response = browser.post(
        f"/villages/{thon.id}/register-list",
        data={"file": (wrong, "ds.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = text(browser.get(f"/villages/{thon.id}"))
    assert "Dòng 3: Hộ mã “W9” không thuộc thôn này" in page
    assert "Dòng 4: Mã hộ “W1” trùng với dòng 2" in page
    assert registered() == set()
    good = csv_bytes(["Mã hộ"], [["W1"], ["W3"]])
    browser.post(
        f"/villages/{thon.id}/register-list",
        data={"file": (good, "ds.csv")},
        content_type="multipart/form-data",
    )
    assert registered() == {homes[0].id, homes[2].id}
    assert "Đã đăng ký 2 hộ theo danh sách" in text(browser.get(f"/villages/{thon.id}"))
