"""Message wording, Vietnamese and English: what happened, what to do, by when, with a link."""

from __future__ import annotations

from types import SimpleNamespace

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


def recipient_locale(user: User) -> str:
    return "en" if (user.locale or "vi").startswith("en") else "vi"


def message_params(
    kind: str,
    payload: dict,
    case: Case,
    user: User,
    definition: WorkflowDefinition,
    now=None,
) -> dict:
    """What a message says, in no language: the event, the case, what to do and by when.

    Stored with each notification (``Notification.params``), so that the inbox shows it in
    the reader's language of the day, whatever the language when it was sent.
    """
    now = now or utcnow()
    event_kind = "recognized" if payload.get("to_state") == "recognized" else kind
    state = definition.states.get(case.state)
    if not case.is_open:
        action_key = None
    elif user.role == "applicant":
        action_key = "supplement" if case.state == "returned" else "follow"
    elif state is not None and state.is_review and user.role in state.roles:
        action_key = "review"
    else:
        action_key = "follow"
    due = overdue_days = None
    if action_key == "review" and case.due_at is not None:
        due = to_local(case.due_at).strftime("%H:%M %d/%m/%Y")
        if case.due_at < now:
            overdue_days = get_calendar().working_days_late(case.due_at, now)
    return {
        "event": event_kind,
        "number": payload.get("number", ""),
        "date": payload.get("date", ""),
        "case_id": case.id,
        "title": case.title,
        "workflow": getattr(case, "workflow", None),
        "year": case.year,
        "subject": case.subject.name,
        "state": case.state,
        "comment": payload.get("comment"),
        "action": action_key,
        "due": due,
        "overdue_days": overdue_days,
    }


def render_params(params: dict, locale: str, name: str) -> tuple[str, str, str]:
    """(title, body, link path) of a message's ``params`` in ``locale``, for ``name``.

    The title is the message's one line in the inbox: what happened, which case and, when
    there is one, what to do. A case that ended (recognised, not recognised, withdrawn) asks
    for nothing; a deadline already past is told as how long overdue.
    """
    from htsd_workflow.cases.engine import get_registry

    if params.get("digest"):
        return _render_digest(params, locale, name)
    locale = locale if locale in EVENTS else "vi"
    event = EVENTS[locale].get(params["event"], EVENTS[locale]["submit"])
    if params["event"] == "decision_issued":
        event = event.format(number=params.get("number", ""), date=params.get("date", ""))
    case_ref = SimpleNamespace(title=params["title"], workflow=params.get("workflow"))
    try:
        definition = get_registry().definition_of(case_ref)
    except Exception:  # noqa: BLE001  (a title or workflow set since removed: the state's code)
        definition = None
    with force_locale(locale):
        current_state = state_label(params["state"], definition)
        title_label = str(TITLE_LABELS.get(params["title"], params["title"]))
    case_id = params["case_id"]
    case_label = f"HS-{case_id} · {title_label} {params['year']} · {params['subject']}"
    action_key = params.get("action")
    due = params.get("due")
    overdue = None
    days = params.get("overdue_days")
    if days is not None:
        overdue = (OVERDUE_ONE if days == 1 else OVERDUE)[locale].format(days=days, due=due)
        due = None
    action = ACTIONS[locale][action_key] if action_key else None
    link = f"/cases/{case_id}"
    body = render_text(
        f"notifications/message.{locale}.txt",
        greeting=GREETING[locale].format(name=name),
        event=event,
        case_label=case_label,
        state_label=current_state,
        comment=params.get("comment"),
        action=action,
        due=due,
        overdue=overdue,
        link=current_app.config["BASE_URL"].rstrip("/") + link,
    )
    title = f"[HS-{case_id}] {event}"
    if action_key in ("review", "supplement"):
        title += f" {ACTION_LEAD[locale]}: {action}"
        if overdue:
            title += f" ({overdue})"
        elif due:
            title += f" ({DUE_LEAD[locale]} {due})"
    return title[:300], body, link


def digest_params(day: str, new: int, due_soon: int, overdue: int) -> dict:
    return {"digest": True, "day": day, "new": new, "due_soon": due_soon, "overdue": overdue}


def _render_digest(params: dict, locale: str, name: str) -> tuple[str, str, str]:
    locale = locale if locale in EVENTS else "vi"
    body = render_text(
        f"notifications/digest.{locale}.txt",
        greeting=GREETING[locale].format(name=name),
        day=params["day"],
        new=params["new"],
        due_soon=params["due_soon"],
        overdue=params["overdue"],
        link=current_app.config["BASE_URL"].rstrip("/") + "/queue",
    )
    title = (
        f"Hàng chờ ngày {params['day']}: {params['overdue']} quá hạn"
        if locale == "vi"
        else f"Your queue on {params['day']}: {params['overdue']} overdue"
    )
    return title, body, "/queue"


def render_message(
    kind: str,
    payload: dict,
    case: Case,
    user: User,
    definition: WorkflowDefinition,
    now=None,
) -> tuple[str, str, str]:
    """Return (title, body, link path) for one recipient, in their language, at ``now``."""
    params = message_params(kind, payload, case, user, definition, now)
    return render_params(params, recipient_locale(user), user.display_name)
