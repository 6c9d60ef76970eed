"""Message wording, Vietnamese and English: what happened, what to do, by when, with a link."""

from __future__ import annotations

from flask import current_app
from flask_babel import force_locale

from htsd_workflow.auth.models import User
from htsd_workflow.cases.definitions import WorkflowDefinition
from htsd_workflow.cases.models import Case
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.labels import TITLE_LABELS, state_label
from htsd_workflow.core.time import to_local, utcnow


def render_text(name: str, **context) -> str:
    """Render a message template outside any request (workers have none)."""
    return current_app.jinja_env.get_template(name).render(**context)


EVENTS = {
    "vi": {
        "submit": "Hồ sơ đã được gửi và đang chờ xét duyệt.",
        "resubmit": "Hồ sơ đã được bổ sung và gửi lại.",
        "approve": "Hồ sơ đã được chấp thuận và chuyển lên cấp trên.",
        "sign": "Một sở đã ký xác nhận hồ sơ.",
        "recognized": "Chúc mừng! Hồ sơ đã được công nhận danh hiệu.",
        "return_to_applicant": "Hồ sơ được trả lại để bổ sung.",
        "return_to_district": "Hồ sơ được cấp tỉnh trả lại huyện.",
        "return_to_commune": "Hồ sơ được cấp trên trả lại xã để xem xét lại.",
        "reject": "Hồ sơ không được công nhận.",
        "withdraw": "Người nộp đã rút hồ sơ.",
        "remind": "Nhắc việc: hồ sơ sắp đến hạn xử lý.",
        "escalate": "Hồ sơ đã quá hạn xử lý và được báo cáo cấp trên.",
        "extend_deadline": "Thời hạn xử lý hồ sơ đã được gia hạn.",
        "decision_issued": (
            "Đã có Quyết định công nhận số {number} ngày {date}. "
            "Giấy công nhận được tải về tại trang hồ sơ."
        ),
        "revoke": "Quyết định công nhận danh hiệu của hồ sơ đã bị thu hồi.",
    },
    "en": {
        "submit": "The application was submitted and awaits review.",
        "resubmit": "The application was supplemented and sent again.",
        "approve": "The application was approved and passed to the next level.",
        "sign": "A department has signed the application.",
        "recognized": "Congratulations! The title has been recognised.",
        "return_to_applicant": "The application was returned for supplement.",
        "return_to_district": "The province returned the application to the district.",
        "return_to_commune": "The application was returned to the commune for another review.",
        "reject": "The application was not recognised.",
        "withdraw": "The applicant withdrew the application.",
        "remind": "Reminder: the application is nearly due.",
        "escalate": "The application is overdue and was reported to the level above.",
        "extend_deadline": "The deadline of the application was extended.",
        "decision_issued": (
            "Recognition decision No. {number} of {date} has been issued. "
            "The certificate can be downloaded from the application's page."
        ),
        "revoke": "The recognition of the title was revoked.",
    },
}
ACTIONS = {
    "vi": {
        "review": "xem xét và xử lý hồ sơ",
        "supplement": "bổ sung hồ sơ theo ý kiến rồi gửi lại",
        "follow": "theo dõi tiến độ hồ sơ",
    },
    "en": {
        "review": "review and decide on the application",
        "supplement": "supplement the application as asked and send it again",
        "follow": "follow the application's progress",
    },
}
ACTION_LEAD = {"vi": "Việc cần làm", "en": "To do"}
DUE_LEAD = {"vi": "trước", "en": "by"}
GREETING = {"vi": "Kính gửi {name}", "en": "Dear {name}"}
#: an overdue notice says how long overdue, never "by" a moment already past
OVERDUE = {
    "vi": "đã quá hạn {days} ngày làm việc (hạn là {due})",
    "en": "{days} working day(s) overdue (it was due {due})",
}
OVERDUE_ONE = {**OVERDUE, "en": "1 working day overdue (it was due {due})"}


def render_message(
    kind: str,
    payload: dict,
    case: Case,
    user: User,
    definition: WorkflowDefinition,
    now=None,
) -> tuple[str, str, str]:
    """Return (title, body, link path) for one recipient, in their language, at ``now``.

    The title is the message's one line in the inbox: what happened, which case and, when
    there is one, what to do. A case that ended (recognised, not recognised, withdrawn) asks
    for nothing; a deadline already past is told as how long overdue.
    """
    now = now or utcnow()
    locale = "en" if (user.locale or "vi").startswith("en") else "vi"
    event_kind = "recognized" if payload.get("to_state") == "recognized" else kind
    event = EVENTS[locale].get(event_kind, EVENTS[locale]["submit"])
    if kind == "decision_issued":
        event = event.format(number=payload.get("number", ""), date=payload.get("date", ""))
    state = definition.states.get(case.state)
    with force_locale(locale):
        current_state = state_label(case.state, definition)
        title_label = str(TITLE_LABELS.get(case.title, case.title))
    case_label = f"HS-{case.id} · {title_label} {case.year} · {case.subject.name}"
    if not case.is_open:
        action_key = None
    elif user.role == "applicant":
        action_key = "supplement" if case.state == "returned" else "follow"
    elif state is not None and state.is_review and user.role in state.roles:
        action_key = "review"
    else:
        action_key = "follow"
    due = overdue = None
    if action_key == "review" and case.due_at is not None:
        due_text = to_local(case.due_at).strftime("%H:%M %d/%m/%Y")
        if case.due_at < now:
            days = get_calendar().working_days_late(case.due_at, now)
            overdue = (OVERDUE_ONE if days == 1 else OVERDUE)[locale].format(
                days=days, due=due_text
            )
        else:
            due = due_text
    action = ACTIONS[locale][action_key] if action_key else None
    link = f"/cases/{case.id}"
    body = render_text(
        f"notifications/message.{locale}.txt",
        greeting=GREETING[locale].format(name=user.display_name),
        event=event,
        case_label=case_label,
        state_label=current_state,
        comment=payload.get("comment"),
        action=action,
        due=due,
        overdue=overdue,
        link=current_app.config["BASE_URL"].rstrip("/") + link,
    )
    title = f"[HS-{case.id}] {event}"
    if action_key in ("review", "supplement"):
        title += f" {ACTION_LEAD[locale]}: {action}"
        if overdue:
            title += f" ({overdue})"
        elif due:
            title += f" ({DUE_LEAD[locale]} {due})"
    return title[:300], body, link
