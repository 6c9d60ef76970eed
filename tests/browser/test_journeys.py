"""The journeys of the issue, as people do them in a browser."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import claim_case
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, DISTRICT, PASSWORD, PROVINCE

pytestmark = pytest.mark.browser

#: the smallest file that our content check takes for a JPEG photo
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


def test_household_is_recognised_after_a_return_and_both_signatures(
    people, live_app, make, tmp_path
):
    subject = make.subject("family", COMMUNE, name="Hộ Y Blong")
    applicant = make.applicant(subject)
    commune = make.user("commune_reviewer", COMMUNE, full_name="Cán bộ xã Quang Trung")
    district = make.user("district_reviewer", DISTRICT, full_name="Cán bộ huyện")
    education = make.user("education_reviewer", PROVINCE, full_name="Chuyên viên Sở GD&ĐT")
    culture = make.user("culture_reviewer", PROVINCE, full_name="Chuyên viên Sở VHTTDL")
    photo = tmp_path / "Giấy khen của cháu.jpg"
    photo.write_bytes(JPEG)

    # the applicant, on a phone, fills in the self-assessment with a photo as evidence
    household = people("applicant", phone=True)
    household.login(applicant.username, PASSWORD)
    household.see("Hộ Y Blong")
    household.shot("my household")
    household.page.click("text=Bắt đầu tự đánh giá")
    household.see("Bản tự đánh giá")
    scores = {"1.1": "10", "1.2": "9", "1.3": "10", "2.1": "10", "2.2": "18", "3": "18"}
    for code, score in scores.items():
        household.page.fill(f'[name="score-{code}"]', score)
        household.page.fill(f'[name="evidence-{code}"]', "Có giấy xác nhận của trường")
    assert household.page.inner_text("[data-total]") == "75"
    assert "1" in household.page.inner_text("[data-result]")  # one item still to score
    household.page.set_input_files('[name="files-1.1"]', str(photo))
    household.shot("assessment typed")
    with household.expecting("status of 422"):
        household.page.click("button[value=send]")
        household.see("còn thiếu điểm")
    household.shot("incomplete refused")
    assert "Giấy khen của cháu.jpg" in household.page.content()  # the file was kept
    household.page.fill('[name="score-4"]', "18")
    assert household.page.inner_text("[data-total]") == "93"
    assert household.page.inner_text("[data-result]") == "Đạt"
    household.page.click("button[value=send]")
    household.see("Chờ xã xét duyệt")
    household.shot("sent")

    with live_app.app_context():
        case_id = db.session.scalar(select(Case.id).where(Case.subject_id == subject.id))

    # the commune reviewer returns it, saying once everything that is missing
    officer = people("commune")
    officer.login(commune.username, PASSWORD)
    officer.see("Hộ Y Blong")
    officer.shot("queue")
    officer.page.click("a:has-text('Hộ Y Blong')")
    officer.see("Việc cần làm tiếp")
    officer.page.click("button:has-text('Nhận xử lý')")
    officer.see("Bạn đã nhận xử lý")
    officer.page.fill("#comment", "Bổ sung ảnh sổ học bạ của cháu cho tiêu chí 1.2.")
    officer.shot("case before return")
    officer.page.click("button[value=return_to_applicant]")
    officer.see("Trả lại để bổ sung")
    officer.shot("returned")

    # the applicant sees the comment on top, fixes the item and sends it again
    household.go(f"/cases/{case_id}")
    household.see("Bổ sung ảnh sổ học bạ")
    household.shot("returned with comment")
    household.page.click("text=Sửa bản tự đánh giá")
    household.page.fill('[name="evidence-1.2"]', "Ảnh sổ học bạ năm học 2024-2025")
    household.page.set_input_files('[name="files-1.2"]', str(photo))
    household.page.click("button[value=send]")
    household.see("Chờ xã xét duyệt")
    household.shot("resubmitted")

    # commune and district approve
    officer.go(f"/cases/{case_id}")
    officer.page.click("button:has-text('Nhận xử lý')")
    officer.page.click("button[value=approve]")
    officer.see("Chờ huyện thẩm định")
    officer.shot("approved to district")
    verifier = people("district")
    verifier.login(district.username, PASSWORD)
    verifier.page.click("a:has-text('Hộ Y Blong')")
    verifier.page.click("button[value=approve]")
    verifier.see("Chờ tỉnh xác nhận")
    verifier.shot("approved to province")

    # culture signs first, then education: recognised
    for name, user in (("culture", culture), ("education", education)):
        department = people(name)
        department.login(user.username, PASSWORD)
        department.page.click("a:has-text('Hộ Y Blong')")
        department.page.click("button[value=sign]")
        department.see("Đã thực hiện")
        department.shot("signed")
    department.see("Đã công nhận")

    household.go("/my")
    household.see("Đã công nhận")
    household.shot("recognised")
    household.page.click("button[value=en]")
    household.see("Recognised")
    household.shot("recognised in English")
    household.page.click("button[value=vi]")
    household.see("Đã công nhận")


def test_commune_reviewer_approves_many_cases_and_sees_what_did_not_go_through(
    people, live_app, make
):
    cases = [make.case_in("commune_review", name=f"Hộ Đinh Văn {n}")[0] for n in range(4)]
    commune = make.user("commune_reviewer", COMMUNE)
    colleague = make.user("commune_reviewer", COMMUNE, full_name="Chị Hoa")
    district = make.user("district_reviewer", DISTRICT)
    with live_app.app_context():
        claim_case(cases[0].id, db.session.merge(colleague))
        db.session.commit()

    officer = people("commune")
    officer.login(commune.username, PASSWORD)
    officer.see("Hộ Đinh Văn 0")  # the commune dashboard lists what waits on them
    officer.go("/queue")
    officer.see("Chị Hoa")  # others see who holds a case
    officer.page.check("[data-select-all]")
    assert officer.page.inner_text("[data-selected-count]") == "4"
    officer.shot("all ticked")
    officer.page.click("button[value=approve]")
    officer.see("3 hồ sơ đã xử lý xong, 1 hồ sơ không xử lý được")
    officer.see("cán bộ khác nhận xử lý")
    officer.shot("bulk result")

    # the district takes "all matching the filter": above the threshold it runs in the
    # background with a progress bar, then shows the result
    verifier = people("district")
    verifier.login(district.username, PASSWORD)
    verifier.page.check("input[name=selection][value=filter]")
    verifier.page.click("button[value=approve]")
    verifier.see("tất cả 3 hồ sơ khớp bộ lọc")  # asked first, with the count
    verifier.page.click("text=Xác nhận, thực hiện")
    verifier.see("3 hồ sơ đã xử lý xong, 0 hồ sơ không xử lý được")
    verifier.shot("background bulk result")
    with live_app.app_context():
        states = set(
            db.session.scalars(select(Case.state).where(Case.id.in_([c.id for c in cases])))
        )
    assert states == {"commune_review", "provincial_confirmation"}


def test_managers_read_the_reports_and_a_commune_enters_its_totals(people, live_app, make):
    for state in ("commune_review", "district_verification", "provincial_confirmation"):
        make.case_in(state, name=f"Hộ Báo Cáo {state}")
    commune = make.user("commune_reviewer", COMMUNE)
    manager = make.user("manager", PROVINCE, full_name="Lãnh đạo tỉnh")

    officer = people("commune")
    officer.login(commune.username, PASSWORD)
    officer.page.click("nav >> text=Tổng số theo địa bàn")
    officer.see("Tải tệp mẫu (Excel)")
    officer.page.fill(f'[name="d-{COMMUNE}-family"]', "abc")
    with officer.expecting("status of 422"):
        officer.page.click('button:text-is("Lưu")')
        officer.see("không phải số nguyên không âm")
    officer.shot("totals refused")
    officer.page.fill(f'[name="d-{COMMUNE}-family"]', "2150")
    officer.page.click('button:text-is("Lưu")')
    officer.see("Đã lưu 1 số liệu")
    officer.shot("totals saved")

    leader = people("manager")
    leader.login(manager.username, PASSWORD)
    leader.page.click("nav >> text=Điểm nghẽn")
    leader.see("Tỷ lệ đúng hạn theo đơn vị")
    # the weekly trend arrives after the page: fetched into its slot, drawn there
    # (a line of zeros is flat, so the chart is awaited, not its first line)
    leader.page.wait_for_selector("[data-fragment-src] svg.chart.trend")
    assert leader.page.locator("[data-fragment-src] svg.trend polyline").count() >= 3
    assert leader.page.locator("svg.chart").count() == 3
    assert leader.page.locator("[data-fragment-src][aria-busy]").count() == 0
    leader.shot("bottlenecks")
    leader.page.click("nav >> text=Chỉ tiêu")
    leader.see("Kế hoạch áp dụng")
    leader.shot("targets")
    leader.page.click("text=Bản in")
    leader.see("Định nghĩa")
    leader.shot("targets printable")


def test_commune_officer_imports_households_in_the_background_and_prints_slips(
    people, live_app, make, tmp_path
):
    commune = make.user("commune_reviewer", COMMUNE)
    rows = [f"HB{n:03d};Hộ Đinh Thị {n};{COMMUNE};;;" for n in range(40)]
    csv_file = tmp_path / "ho-gia-dinh.csv"
    csv_file.write_text(
        "Mã hộ;Tên chủ hộ;Mã xã;Mã thôn/tổ dân phố;Số điện thoại;Địa chỉ\n" + "\n".join(rows),
        encoding="utf-8-sig",
    )
    live_app.config["IMPORT_BACKGROUND_BYTES"] = 500  # this file goes to the background
    try:
        officer = people("commune")
        officer.login(commune.username, PASSWORD)
        officer.page.click("nav >> text=Nhập dữ liệu")
        officer.see("Nhập danh sách từ bảng tính")
        officer.shot("import page")
        officer.page.set_input_files("#file-households", str(csv_file))
        officer.page.click("form[action$='/imports/households'] button[type=submit]")
        # checked in the background; the page follows the progress and shows the report
        officer.see("Không có lỗi: 40 dòng sẵn sàng để nhập.")
        officer.shot("checked")
        officer.page.click("button:has-text('Xác nhận nhập 40 dòng')")
        officer.see("Đã nhập xong: 40 mới, 0 cập nhật, 0 không đổi")
        officer.shot("imported")
        officer.page.click("text=In phiếu đăng nhập cho các hộ chưa có tài khoản")
        officer.see("Hộ Đinh Thị 0")
        officer.page.click("button:has-text('Tạo tài khoản và in phiếu')")
        officer.see("40 phiếu")
        assert officer.page.locator(".slip").count() == 40
        officer.shot("slips")
        officer.page.emulate_media(media="print")
        assert not officer.page.is_visible("header.site")
        officer.shot("slips as printed")
    finally:
        live_app.config["IMPORT_BACKGROUND_BYTES"] = 256 * 1024
