"""The import pages: template, upload, row-by-row report, confirmation, re-import, scope,
stored files, failures that leave the data as it was, and the printable login slips."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.auth.models import User
from htsd_workflow.extensions import db
from htsd_workflow.imports import operations as import_operations
from htsd_workflow.imports.jobs import CHECK_IMPORT, drop_stale_import_files
from htsd_workflow.imports.models import ImportJob
from htsd_workflow.jobs.runner import run_job
from htsd_workflow.subjects.models import Subject
from tests.clients import text
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT
from tests.imports.test_imports import (
    COMMUNITY_HEADERS,
    HOUSEHOLD_HEADERS,
    csv_bytes,
    xlsx,
)

GOOD_ROWS = [
    ["H1", "Nguyễn Văn An", COMMUNE, None, "0912345678", "Số 1"],
    ["H2", "Trần Thị Bình", COMMUNE, None, None, None],
    ["H3", "Y Blong", COMMUNE, None, None, None],
]


def count_households():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).where(Subject.kind == "family"))


@pytest.fixture
def officer(make):
    return make.user("commune_reviewer", COMMUNE)


def stored_files(ctx) -> set:
    folder = Path(ctx.config["IMPORT_FOLDER"])
    return set(folder.iterdir()) if folder.exists() else set()


def upload(browser, kind, data: io.BytesIO, name="ho.xlsx"):
    return browser.post(
        f"/imports/{kind}",
        data={"file": (data, name)},
        content_type="multipart/form-data",
    )


def job_of(response) -> ImportJob:
    job_id = int(re.search(r"/imports/jobs/(\d+)", response.headers["Location"]).group(1))
    db.session.expire_all()
    return db.session.get(ImportJob, job_id)


def test_template_downloads_with_vietnamese_headers(as_user, officer):
    response = as_user(officer).get("/imports/households/template")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert [c.value for c in sheet[1]] == HOUSEHOLD_HEADERS
    assert as_user(officer).get("/imports/nothing/template").status_code == 404


def test_a_file_with_errors_shows_row_column_and_problem_and_imports_nothing(as_user, officer):
    browser = as_user(officer)
    rows = [
        *GOOD_ROWS,
        ["H1", "Trùng mã", COMMUNE, None, None, None],
        ["H5", "Xã khác", OTHER_COMMUNE_SAME_DISTRICT, None, None, None],
        ["H6", "Điện thoại", COMMUNE, None, "12ab", None],
    ]
    response = upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, rows))
    assert response.status_code == 302
    job = job_of(response)
    assert (job.status, job.error_count, job.total) == ("checked", 3, 6)
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "Trùng với dòng 2" in page or "trùng với dòng 2" in page
    assert "ngoài địa bàn bạn quản lý" in page and "Số điện thoại" in page
    assert "Xác nhận nhập" not in page
    # confirming a file with errors is refused, and nothing was written
    assert browser.post(f"/imports/jobs/{job.id}/confirm").status_code == 409
    assert count_households() == 0


def test_a_clean_file_imports_on_confirmation_and_again_changes_nothing(as_user, officer, ctx):
    browser = as_user(officer)
    job = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    assert job.is_clean and job.total == 3
    job_id = job.id
    stored = Path(ctx.config["IMPORT_FOLDER"]) / job.stored_name
    assert stored.exists()  # kept, outside the web root, until confirmed
    assert count_households() == 0
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "Xác nhận nhập 3 dòng" in page
    response = browser.post(f"/imports/jobs/{job_id}/confirm")
    assert response.status_code == 302
    db.session.expire_all()
    job = db.session.get(ImportJob, job_id)
    assert (job.status, job.created, job.updated, job.unchanged) == ("done", 3, 0, 0)
    assert not stored.exists() and job.stored_name is None
    assert count_households() == 3
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "3 mới" in page and "In phiếu đăng nhập" in page
    audit = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "import"))
    assert audit.details["created"] == 3 and audit.actor_id == officer.id

    job_id = job.id
    again = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    again_id = again.id
    browser.post(f"/imports/jobs/{again_id}/confirm")
    db.session.expire_all()
    again = db.session.get(ImportJob, again_id)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert count_households() == 3
    # a second confirmation of a finished import does nothing
    assert browser.post(f"/imports/jobs/{job_id}/confirm").status_code == 409


def test_csv_upload_in_windows_1258_with_semicolons(as_user, officer):
    browser = as_user(officer)
    data = csv_bytes(
        COMMUNITY_HEADERS, [["T1", "Làng Đắk Hà", COMMUNE, "A Blong"]], encoding="cp1258", sep=";"
    )
    job = job_of(upload(browser, "communities", data, "thon.csv"))
    assert job.is_clean and job.filename == "thon.csv"
    browser.post(f"/imports/jobs/{job.id}/confirm")
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).created == 1


@pytest.mark.parametrize(
    ("payload", "name", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "anh.png", "không phải bảng tính"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "cu.xls", "97–2003"),
        (b"", "trong.csv", "Chưa chọn tệp hoặc tệp trống"),
    ],
)
def test_files_that_are_not_spreadsheets_are_refused_with_what_to_do(
    as_user, officer, ctx, payload, name, message
):
    before = stored_files(ctx)
    response = upload(as_user(officer), "households", io.BytesIO(payload), name)
    assert response.status_code == 422
    assert message in text(response)
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0
    assert stored_files(ctx) == before


def test_a_file_over_the_size_limit_is_refused_and_not_kept(as_user, officer, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "IMPORT_MAX_BYTES", 1000)
    before = stored_files(ctx)
    rows = [[f"H{i}", f"Hộ số {i}", COMMUNE, None, None, None] for i in range(200)]
    response = upload(as_user(officer), "households", csv_bytes(HOUSEHOLD_HEADERS, rows), "a.csv")
    assert response.status_code == 422 and "lớn hơn" in text(response)
    assert stored_files(ctx) == before


def test_a_broken_or_headerless_file_gives_a_clear_report(as_user, officer):
    browser = as_user(officer)
    job = job_of(upload(browser, "households", io.BytesIO(b"PK\x03\x04broken zip"), "x.xlsx"))
    assert job.status == "checked" and "bị hỏng" in job.message
    assert "bị hỏng" in text(browser.get(f"/imports/jobs/{job.id}"))
    job = job_of(upload(browser, "households", csv_bytes(["Tên"], [["x"]]), "y.csv"))
    assert "thiếu cột" in job.message and "Mã hộ" in job.message
    assert browser.post(f"/imports/jobs/{job.id}/confirm").status_code == 409


def test_cancel_drops_the_stored_file(as_user, officer, ctx):
    browser = as_user(officer)
    job = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    stored = Path(ctx.config["IMPORT_FOLDER"]) / job.stored_name
    assert browser.post(f"/imports/jobs/{job.id}/cancel").status_code == 302
    assert not stored.exists()
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status == "cancelled"
    assert browser.post(f"/imports/jobs/{job.id}/confirm").status_code == 409


def test_someone_elses_import_is_not_found_and_applicants_cannot_import(as_user, officer, make):
    job = job_of(upload(as_user(officer), "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    other = make.user("commune_reviewer", COMMUNE)
    for url in (f"/imports/jobs/{job.id}", f"/imports/jobs/{job.id}/status"):
        assert as_user(other).get(url).status_code == 404
    assert as_user(other).post(f"/imports/jobs/{job.id}/confirm").status_code == 404
    household = make.subject()
    applicant = make.applicant(household)
    assert as_user(applicant).get("/imports").status_code == 403
    assert as_user(make.user("manager", "62")).get("/imports").status_code == 403


def test_a_district_officer_imports_for_every_commune_of_the_district(as_user, make):
    district = make.user("district_reviewer", "608")
    rows = [
        ["H1", "Hộ một", COMMUNE, None, None, None],
        ["H2", "Hộ hai", OTHER_COMMUNE_SAME_DISTRICT, None, None, None],
        ["H3", "Hộ ba", "23500", None, None, None],  # another district
    ]
    job = job_of(upload(as_user(district), "households", xlsx(HOUSEHOLD_HEADERS, rows)))
    assert [(e["row"], e["column"]) for e in job.errors] == [(4, "Mã xã")]


def test_a_failure_part_way_leaves_the_data_as_it_was(as_user, officer, monkeypatch):
    browser = as_user(officer)
    rows = [[f"H{i}", f"Hộ số {i}", COMMUNE, None, None, None] for i in range(25)]
    first = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, rows[:5])))
    browser.post(f"/imports/jobs/{first.id}/confirm")
    assert count_households() == 5
    job = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, rows)))
    monkeypatch.setattr(import_operations, "BATCH", 10)
    real = import_operations._subject_values
    calls = {"n": 0}

    def fail_in_the_third_batch(*args):
        calls["n"] += 1
        if calls["n"] > 20:
            raise RuntimeError("disk full")
        return real(*args)

    monkeypatch.setattr(import_operations, "_subject_values", fail_in_the_third_batch)
    browser.post(f"/imports/jobs/{job.id}/confirm")
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "failed" and "disk full" in job.message
    assert count_households() == 5  # the two batches flushed before the failure are gone too
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "dữ liệu vẫn giữ nguyên" in page and "Thử nhập lại" in page
    monkeypatch.setattr(import_operations, "_subject_values", real)
    browser.post(f"/imports/jobs/{job.id}/confirm")
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).status == "done"
    assert count_households() == 25


def test_a_large_file_goes_to_the_background_and_the_page_shows_progress(
    as_user, officer, ctx, monkeypatch
):
    started = []
    monkeypatch.setitem(ctx.config, "IMPORT_BACKGROUND_BYTES", 0)
    monkeypatch.setattr(
        "htsd_workflow.jobs.runner.run_in_background",
        lambda task, function, job_id: started.append((task, function, job_id)),
    )
    browser = as_user(officer)
    job = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    assert job.is_background and job.status == "checking"
    assert started[0][0] == "worker.tasks.check_import_task"
    page = text(browser.get(f"/imports/jobs/{job.id}"))
    assert "<progress" in page and 'http-equiv="refresh"' in page and "data-progress-url" in page
    status = browser.get(f"/imports/jobs/{job.id}/status").get_json()
    assert status["finished"] is False and status["total"] == 0  # not counted yet
    started[0][1](job.id)  # what the worker does
    status = browser.get(f"/imports/jobs/{job.id}/status").get_json()
    assert (status["finished"], status["status"], status["done"]) == (True, "checked", 3)
    browser.post(f"/imports/jobs/{job.id}/confirm")
    assert started[1][0] == "worker.tasks.run_import_task"
    assert browser.get(f"/imports/jobs/{job.id}/status").get_json()["finished"] is False
    started[1][1](job.id)
    # a redelivered task finds the job done and does nothing
    started[1][1](job.id)
    db.session.expire_all()
    assert db.session.get(ImportJob, job.id).created == 3 and count_households() == 3


# --- login slips ---------------------------------------------------------------------------


def test_a_commune_officer_prints_one_time_slips_for_new_households(as_user, officer, make):
    browser = as_user(officer)
    job = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    browser.post(f"/imports/jobs/{job.id}/confirm")
    page = text(browser.get("/imports/slips"))
    assert "Nguyễn Văn An" in page and "Chưa có" in page
    ids = db.session.scalars(select(Subject.id).where(Subject.kind == "family")).all()
    response = browser.post("/imports/slips", data={"subject_id": [str(i) for i in ids]})
    assert response.status_code == 200
    printed = text(response)
    assert printed.count('class="slip"') == 3
    assert "h1" in printed and "Mật khẩu dùng một lần" in printed and "/login" in printed
    password = re.search(
        r"Mật khẩu dùng một lần</dt><dd class=\"code\">([a-z0-9]+)</dd>", printed
    ).group(1)
    db.session.expire_all()
    account = db.session.scalar(select(User).where(User.username == "h1"))
    assert account.role == "applicant" and account.must_change_password
    assert password not in (account.password_hash or "")
    # shown once: the list now says the accounts exist, and shows no password
    page = text(browser.get("/imports/slips?all=1"))
    assert "Đã có" in page and password not in page
    assert "Không có hộ nào cần phiếu" in text(browser.get("/imports/slips"))


def test_another_communes_households_cannot_be_slipped(as_user, officer, make):
    mine = make.subject(unit=COMMUNE)
    theirs = make.subject(unit=OTHER_COMMUNE_SAME_DISTRICT, name="Hộ Canary Xã Khác")
    browser = as_user(officer)
    assert "Canary" not in text(browser.get("/imports/slips?all=1"))
    response = browser.post("/imports/slips", data={"subject_id": [str(mine.id), str(theirs.id)]})
    assert response.status_code == 422 and "ngoài địa bàn" in text(response)
    db.session.expire_all()
    assert (
        db.session.scalar(select(func.count()).select_from(User).where(User.role == "applicant"))
        == 0
    )
    district = make.user("district_reviewer", "608")
    assert as_user(district).get("/imports/slips").status_code == 403


def test_files_nobody_confirms_are_deleted_after_the_keep_time(as_user, officer, ctx):
    browser = as_user(officer)
    job = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    stored = Path(ctx.config["IMPORT_FOLDER"]) / job.stored_name
    assert drop_stale_import_files() == 0 and stored.exists()
    later = job.created_at + timedelta(hours=ctx.config["IMPORT_KEEP_HOURS"] + 1)
    assert drop_stale_import_files(now=later) == 1
    db.session.commit()
    assert not stored.exists()
    assert db.session.get(ImportJob, job.id).status == "cancelled"


def test_a_worker_that_cannot_see_the_file_says_so(as_user, officer, ctx, monkeypatch):
    monkeypatch.setitem(ctx.config, "IMPORT_BACKGROUND_BYTES", 0)
    monkeypatch.setattr("htsd_workflow.jobs.runner.run_in_background", lambda *args: None)
    job = job_of(upload(as_user(officer), "households", xlsx(HOUSEHOLD_HEADERS, GOOD_ROWS)))
    (Path(ctx.config["IMPORT_FOLDER"]) / job.stored_name).unlink()
    run_job(CHECK_IMPORT, job.id)
    db.session.expire_all()
    job = db.session.get(ImportJob, job.id)
    assert job.status == "checked" and "IMPORT_FOLDER" in job.message and not job.is_clean


@pytest.mark.parametrize("background", [False, True])
def test_row_errors_are_written_in_the_importers_language(
    as_user, officer, ctx, monkeypatch, background
):
    """On the page (the page's language) and in the worker (the importer's saved one)."""
    officer.locale = "en"
    db.session.commit()
    started = []
    if background:
        monkeypatch.setitem(ctx.config, "IMPORT_BACKGROUND_BYTES", 0)
        monkeypatch.setattr(
            "htsd_workflow.jobs.runner.run_in_background",
            lambda task, function, job_id: started.append((function, job_id)),
        )
    rows = [
        *GOOD_ROWS,
        ["H1", "Trùng mã", COMMUNE, None, None, None],
        ["H5", "Xã khác", OTHER_COMMUNE_SAME_DISTRICT, None, None, None],
        ["H6", "Điện thoại", COMMUNE, None, "12ab", None],
    ]
    browser = as_user(officer)
    job = job_of(upload(browser, "households", xlsx(HOUSEHOLD_HEADERS, rows)))
    if background:
        started[0][0](started[0][1])  # what the worker does, outside any request
        db.session.expire_all()
        job = db.session.get(ImportJob, job.id)
    messages = {e["message"] for e in job.errors}
    assert messages == {
        "Code “H1” repeats row 2",
        "“Phường Duy Tân” is outside the area you manage",
        "Phone number “12ab” is not valid (9–12 digits)",
    }, messages
    # the columns keep the file's own (Vietnamese) headers
    assert {e["column"] for e in job.errors} == {"Mã hộ", "Mã xã", "Số điện thoại"}


def test_a_commune_officer_creates_village_heads_accounts_and_prints_their_slips(
    as_user, officer, make, ctx
):
    village = make.subject("community", COMMUNE, name="Thôn Kon Rơ Wang", external_code="T1")
    household = make.subject(unit=COMMUNE, name="Hộ A Thoa", community_id=village.id)
    far = make.subject("community", OTHER_COMMUNE_SAME_DISTRICT, name="Thôn Canary Xã Khác")
    browser = as_user(officer)
    page = text(browser.get("/imports/slips?kind=village_head"))
    assert "Thôn Kon Rơ Wang" in page and "Hộ A Thoa" not in page and "Canary" not in page
    response = browser.post(
        "/imports/slips", data={"kind": "village_head", "subject_id": [str(village.id)]}
    )
    assert response.status_code == 200
    printed = text(response)
    assert printed.count('class="slip"') == 1 and "Tài khoản trưởng thôn" in printed
    password = re.search(
        r"Mật khẩu dùng một lần</dt><dd class=\"code\">([a-z0-9]+)</dd>", printed
    ).group(1)
    db.session.expire_all()
    head = db.session.scalar(select(User).where(User.username == "truongthon-t1"))
    assert (head.role, head.subject_id, head.unit_code) == ("village_head", village.id, COMMUNE)
    assert head.must_change_password
    audit = db.session.scalars(  # the newest: rows come in no set order without one
        select(AuditEntry)
        .where(AuditEntry.action == "login_slips")
        .order_by(AuditEntry.id.desc())
        .limit(1)
    ).one()
    assert audit.details["role"] == "village_head"
    # the village now has its head's account; a household's own account is another matter
    assert "Không có hộ nào cần phiếu" in text(browser.get("/imports/slips?kind=village_head"))
    assert "Hộ A Thoa" in text(browser.get("/imports/slips?kind=family"))
    assert head.check_password(password)  # the slip's password signs the head in
    # a household is no village, and another commune's village is not the officer's
    for subject in (household, far):
        response = browser.post(
            "/imports/slips", data={"kind": "village_head", "subject_id": [str(subject.id)]}
        )
        assert response.status_code == 422
    db.session.expire_all()
    assert (
        db.session.scalar(select(func.count()).select_from(User).where(User.role == "village_head"))
        == 1
    )
