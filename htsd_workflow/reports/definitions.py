"""The reports' words: the titles, and the definitions shown beside the bottleneck and target
figures."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from htsd_workflow.core.titles import TITLES  # noqa: F401 (the reports import it here)

BOTTLENECK_DEFINITIONS = {
    "waiting": _l("Hồ sơ đang ở bước này lúc xem báo cáo"),
    "arrived": _l("Hồ sơ đến bước này trong kỳ (mỗi lần đến tính một lần, kể cả khi gửi lại)"),
    "completed": _l("Hồ sơ rời bước này trong kỳ (chuyển tiếp, ký, trả lại, không công nhận, rút)"),
    "overdue": _l("Hồ sơ đang chờ đã quá hạn của bước (đang giải quyết quá hạn)"),
    "escalated": _l(
        "Hồ sơ đang chờ hoặc rời bước trong kỳ mà đã bị báo cáo cấp trên khi ở bước "
        "này (với phần ký của từng Sở: khi Sở đó chưa ký)"
    ),
    "returned": _l("Hồ sơ rời bước trong kỳ vì bị trả lại (cho người nộp hoặc cho cấp dưới)"),
    "median_days": _l("Trung vị số ngày làm việc ở bước, của hồ sơ rời bước trong kỳ"),
    "p90_days": _l("90% hồ sơ rời bước trong kỳ nằm ở bước không quá số ngày làm việc này"),
    "to_handle": _l(
        "Phải giải quyết = nhận trong kỳ + kỳ trước chuyển sang (đến trước kỳ, chưa "
        "rời bước lúc đầu kỳ)"
    ),
    "nearly_late": _l("Đang giải quyết, chưa quá hạn, hạn trong 2 ngày làm việc tới"),
    "not_yet_due": _l("Đang giải quyết, hạn còn hơn 2 ngày làm việc"),
    "withdrawn": _l("Hồ sơ rời bước trong kỳ vì người nộp rút hồ sơ"),
    "late_done": _l(
        "Đã giải quyết trễ: rời bước trong kỳ sau hạn bằng một quyết định (chuyển "
        "tiếp, ký, không công nhận); hồ sơ trả lại và rút tính riêng"
    ),
    "on_time_done": _l(
        "Đã giải quyết đúng hạn: rời bước trong kỳ đúng hoặc trước hạn bằng một "
        "quyết định (trước hạn tính là đúng hạn); hồ sơ trả lại và rút tính riêng"
    ),
    "late_rate": _l(
        "Tỷ lệ trễ hạn = (đang giải quyết quá hạn + đã giải quyết quá hạn) / " "phải giải quyết"
    ),
    "on_time_rate": _l("Tỷ lệ đúng hạn = 100% − tỷ lệ trễ hạn (trước hạn tính là đúng hạn)"),
}


_TARGET_COMMON = {
    "denominator": _l(
        "Tổng số hộ/dòng họ/cộng đồng/đơn vị của địa bàn trong năm, do xã, huyện "
        "nhập; cơ quan, đơn vị do huyện, tỉnh trực tiếp quản lý nhập ở dòng của huyện, tỉnh; "
        "huyện, tỉnh: tổng của các dòng đã có số; thiếu thì để trống, không tính là 0%"
    ),
    "registered": _l("Số đối tượng (không trùng) có hồ sơ danh hiệu của năm đã gửi và không rút"),
    "recognized": _l("Số đối tượng có hồ sơ danh hiệu của năm đã được công nhận"),
    "percent": _l(
        "Tỷ lệ = được công nhận / tổng số; huyện, tỉnh: chỉ tính các xã và dòng trực "
        "thuộc đã có tổng số"
    ),
}


TARGET_DEFINITIONS = {
    **_TARGET_COMMON,
    "target": _l(
        "Chỉ tiêu cuối kỳ (%) của kế hoạch áp dụng; xã ĐBKK theo chỉ tiêu riêng của năm; "
        "huyện, tỉnh: bình quân gia quyền theo tổng số của các xã và dòng trực thuộc"
    ),
    "gap": _l("Còn thiếu = chỉ tiêu − tỷ lệ (điểm phần trăm; âm là vượt)"),
    "gap_count": _l(
        "Số đối tượng (hộ, dòng họ, cộng đồng, đơn vị) cần được công nhận thêm để đạt chỉ tiêu"
    ),
    "path": _l(
        "Lộ trình của năm: chỉ tiêu là của cuối kỳ kế hoạch; giữa kỳ, giá trị trên đường thẳng "
        "từ tỷ lệ đầu kỳ (tỷ lệ được công nhận năm trước kỳ, nếu không có thì số đầu kỳ kế "
        "hoạch nêu) đến chỉ tiêu cuối kỳ; năm cuối kỳ và sau đó bằng chỉ tiêu"
    ),
    "on_track": _l(
        "Đạt khi tỷ lệ ≥ lộ trình của năm; chưa có tỷ lệ đầu kỳ thì so với chỉ tiêu cuối kỳ"
    ),
}


COUNT_TARGET_DEFINITIONS = {
    **_TARGET_COMMON,
    "target": _l(
        "Kế hoạch thí điểm giao số lượng, không phải %: mỗi huyện thí điểm 2 đơn vị, "
        "2 cộng đồng (ở 1 xã thí điểm), 1 dòng họ, 20 gia đình; tỉnh: số đó nhân số huyện thí "
        "điểm; xã và huyện không thí điểm không có chỉ tiêu"
    ),
    "gap": _l("Còn thiếu = chỉ tiêu − số được công nhận ở các huyện thí điểm (số lượng)"),
    "on_track": _l("Đạt khi số được công nhận ≥ chỉ tiêu"),
}
