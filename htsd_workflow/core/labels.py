"""The words the screens use (DOMAIN.md, "Words the screens use"), Vietnamese first.

Workflow files carry Vietnamese labels as data. A state's word is this module's (in the user's
language), falling back to the file's label for a state it does not know. A trigger's word
fired from a known stage is the file's label for that transition (translated when the
catalogue has it), falling back to this module's general word; without a stage (a bulk job, a
queue of several stages) it is the general word. Roles, departments and events have only
this module's words.

The workflow registry is read from the application (``app.extensions["htsd_registry"]``, set
up by ``cases.engine``), so that ``core`` imports no feature package.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

STATE_LABELS = {
    "draft": _l("Đang soạn (bản nháp)"),
    "commune_review": _l("Chờ xã xét duyệt"),
    "district_verification": _l("Chờ huyện thẩm định"),
    "provincial_confirmation": _l("Chờ tỉnh xác nhận (Sở GD&ĐT và Sở VHTTDL)"),
    "recognized": _l("Đã công nhận"),
    "returned": _l("Trả lại để bổ sung"),
    "rejected": _l("Không công nhận"),
    "withdrawn": _l("Đã rút hồ sơ"),
    "revoked": _l("Đã thu hồi công nhận"),
}

#: a trigger's button word where no stage is known (a bulk job, a queue of several stages);
#: with a stage the workflow file's label is the word. These are also the English catalogue's
#: source for the files' labels.
TRIGGER_LABELS = {
    "submit": _l("Gửi hồ sơ"),
    "resubmit": _l("Gửi lại"),
    "approve": _l("Đồng ý, chuyển tiếp"),
    ("approve", "commune_review"): _l("Đồng ý, chuyển huyện"),
    ("approve", "district_verification"): _l("Xác nhận, chuyển tỉnh"),
    "sign": _l("Ký xác nhận"),
    "return_to_applicant": _l("Trả lại hộ/đơn vị để bổ sung"),
    "return_to_district": _l("Trả lại huyện"),
    "return_to_commune": _l("Trả lại xã"),
    "reject": _l("Không công nhận"),
    "withdraw": _l("Rút hồ sơ"),
    "claim": _l("Nhận xử lý"),
    "release": _l("Trả về hàng chờ"),
    "revoke": _l("Thu hồi công nhận"),
}

#: the files' button words that no entry above has, for the English catalogue
FILE_TRIGGER_WORDS = (
    _l("Đồng ý, chuyển tỉnh"),
    # the commune's own title (workflows/*/commune.yaml)
    _l("Gửi hồ sơ lên huyện"),
    _l("Gửi hồ sơ lên tỉnh"),
    _l("Trả lại xã để bổ sung"),
)

#: history rows that are not transitions
EVENT_LABELS = {
    "create": _l("Lập hồ sơ"),
    "assess": _l("Cập nhật bản tự đánh giá"),
    "adjust_scores": _l("Điều chỉnh điểm"),
    "claim": _l("Nhận xử lý"),
    "release": _l("Trả về hàng chờ"),
    "take_over": _l("Nhận xử lý thay"),
    "attach": _l("Đính kèm minh chứng"),
    "detach": _l("Gỡ tệp minh chứng"),
    "remind": _l("Nhắc hạn xử lý"),
    "escalate": _l("Đã báo cáo cấp trên"),
    "extend_deadline": _l("Gia hạn"),
    "decision_issued": _l("Ban hành quyết định công nhận"),
    "carry_definition": _l("Chuyển quy trình"),
}

#: audit log actions (htsd_workflow.audit.operations.ACTIONS)
AUDIT_ACTION_LABELS = {
    "login_ok": _l("Đăng nhập"),
    "login_failed": _l("Đăng nhập không thành công"),
    "logout": _l("Đăng xuất"),
    "password_changed": _l("Tự đổi mật khẩu"),
    "api_token_issued": _l("Cấp khóa API"),
    "api_token_refused": _l("Từ chối cấp khóa API"),
    "api_tokens_revoked": _l("Thu hồi khóa API"),
    "user_created": _l("Tạo tài khoản"),
    "user_changed": _l("Sửa tài khoản"),
    "user_deactivated": _l("Khóa tài khoản"),
    "user_activated": _l("Mở khóa tài khoản"),
    "password_reset": _l("Đặt lại mật khẩu"),
    "login_slips": _l("In phiếu đăng nhập"),
    "calendar_exception": _l("Sửa lịch làm việc"),
    "deadline_extended": _l("Gia hạn xử lý"),
    "import": _l("Nhập dữ liệu từ tệp"),
    "denominators_import": _l("Nhập số liệu gốc báo cáo"),
    "denominators_saved": _l("Sửa số liệu gốc báo cáo"),
    "export": _l("Xuất báo cáo"),
    "personal_data_export": _l("Xuất dữ liệu cá nhân"),
    "personal_data_erase": _l("Xóa dữ liệu cá nhân"),
    "case_repaired": _l("Sửa dữ liệu hồ sơ"),
    "round_opened": _l("Mở đợt xét công nhận"),
    "round_changed": _l("Sửa, đóng đợt xét công nhận"),
    "subject_assigned": _l("Chỉ định xã mới cho đối tượng (sắp xếp đơn vị hành chính)"),
}

ROLE_LABELS = {
    "applicant": _l("Người nộp hồ sơ"),
    "village_head": _l("Trưởng thôn / Tổ trưởng tổ dân phố"),
    "commune_reviewer": _l("Cán bộ xét duyệt cấp xã"),
    "district_reviewer": _l("Cán bộ thẩm định cấp huyện"),
    "education_reviewer": _l("Sở Giáo dục và Đào tạo"),
    "culture_reviewer": _l("Sở Văn hóa, Thể thao và Du lịch"),
    "province_officer": _l("Hội Khuyến học tỉnh"),
    "manager": _l("Lãnh đạo, quản lý"),
    "admin": _l("Quản trị hệ thống"),
}

#: the level a person of a role acts for, as the timeline shows it
ROLE_LEVEL_LABELS = {
    "applicant": _l("Hộ/đơn vị"),
    "village_head": _l("Thôn / tổ dân phố"),
    "commune_reviewer": _l("Cấp xã"),
    "district_reviewer": _l("Cấp huyện"),
    "education_reviewer": _l("Cấp tỉnh – Sở GD&ĐT"),
    "culture_reviewer": _l("Cấp tỉnh – Sở VHTTDL"),
    "province_officer": _l("Hội Khuyến học tỉnh"),
    "manager": _l("Lãnh đạo"),
    "admin": _l("Quản trị"),
}

LEVEL_LABELS = {
    "commune": _l("Cấp xã"),
    "district": _l("Cấp huyện"),
    "province": _l("Cấp tỉnh"),
}

TITLE_LABELS = {
    "family": _l("Gia đình học tập"),
    "clan": _l("Dòng họ học tập"),
    "community": _l("Cộng đồng học tập"),
    "commune": _l("Cộng đồng học tập cấp xã"),
    "unit": _l("Đơn vị học tập"),
}

KIND_LABELS = {
    "family": _l("Hộ gia đình"),
    "clan": _l("Dòng họ"),
    "community": _l("Cộng đồng (thôn, làng, tổ dân phố)"),
    "commune": _l("Xã, phường, thị trấn (cả xã)"),
    "unit": _l("Cơ quan, đơn vị"),
}

#: what a title counts, as a number of them reads ("thêm 3 hộ gia đình")
SUBJECT_NOUNS = {
    "family": _l("hộ gia đình"),
    "clan": _l("dòng họ"),
    "community": _l("cộng đồng"),
    "commune": _l("xã, phường, thị trấn"),
    "unit": _l("đơn vị"),
}

DEPARTMENT_LABELS = {
    "education": _l("Sở GD&ĐT"),
    "culture": _l("Sở VHTTDL"),
}


def state_label(state: str, definition=None) -> str:
    """The screen word of a state, or the workflow file's label for a state we do not know."""
    if state in STATE_LABELS:
        return str(STATE_LABELS[state])
    if definition is not None and state in definition.states:
        return definition.states[state].label
    return state


def trigger_label(
    trigger: str, state: str | None = None, title: str | None = None, workflow: str | None = None
) -> str:
    """The button word of a trigger fired from ``state``: the workflow file's label (of the
    case's own definition, ``workflow``, when given), in the user's language when the
    catalogue has it; without a stage, the general word."""
    if state is None and trigger in TRIGGER_LABELS:
        return str(TRIGGER_LABELS[trigger])
    label = (
        current_app.extensions["htsd_registry"].transition_label(trigger, state, title, workflow)
        if has_app_context()
        else None
    )
    if label is not None:
        return gettext(label)
    found = TRIGGER_LABELS.get(trigger)
    return str(found) if found is not None else trigger


def event_label(trigger: str, from_state: str | None = None) -> str:
    """The timeline word of a history row."""
    if trigger in EVENT_LABELS:
        return str(EVENT_LABELS[trigger])
    return trigger_label(trigger, from_state)


def direct_row_name(area_name: str) -> str:
    """A report row of the subjects an area (a district, the province) manages itself."""
    return gettext("%(area)s (trực tiếp quản lý)", area=area_name)
