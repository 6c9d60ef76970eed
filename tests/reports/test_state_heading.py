"""Reports printed for the Provincial People's Committee carry a state document's heading."""

from __future__ import annotations

from tests.reports.test_report_outputs import pdf_text
from tests.reports.test_report_words import _page
from tests.reports.test_reports import login


def test_printed_and_pdf_reports_carry_the_state_heading_and_a_signature_block(ctx, client, make):
    login(client, make.user("manager", "62"))
    page = _page(client, "/reports/targets?year=2026&print=1")
    for words in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "ỦY BAN NHÂN DÂN TỈNH KON TUM",
        "BAN CHỈ ĐẠO XÂY DỰNG XÃ HỘI HỌC TẬP",
        "Kon Tum, ngày 07 tháng 12 năm 2026",  # the tests' clock: 7 December 2026
        "Nơi nhận:",
        "(Ký, ghi rõ họ tên, đóng dấu)",
    ):
        assert words in page, words
    response = client.get("/reports/bottlenecks?format=pdf")
    assert response.status_code == 200
    text = " ".join(pdf_text(response.data).split())
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Kon Tum, ngày 07 tháng 12 năm 2026" in text
    # the screen page has none of it
    screen = _page(client, "/reports/targets?year=2026")
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" not in screen
