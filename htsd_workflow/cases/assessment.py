"""The self-assessment: saving applicants' scores and reviewers' adjusted scores."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ON_BEHALF_ENTRY_ROLES
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import (
    AssessmentItem,
    Case,
)
from htsd_workflow.cases.permissions import _load_case_for, claim_holder
from htsd_workflow.cases.planning import score_results
from htsd_workflow.cases.writing import _record_event
from htsd_workflow.core.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
)
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import utcnow
from htsd_workflow.criteria.scoring import level_of, validate_scores
from htsd_workflow.extensions import db


def assessment_result(case: Case):
    """The computed total and pass/fail of a case (latest reviewed scores win)."""
    return score_results([case])[case.id]


#: ``save_assessment``'s level_applied when the request does not set it
KEEP = object()


def _level_change(cset, case: Case, code) -> dict | None:
    """The change of the level applied for (old and new codes), None when there is none;
    refused when ``code`` is not a level of the case's set."""
    if code is KEEP:
        return None
    if isinstance(code, str):
        code = code.strip() or None
    if code is not None and (not isinstance(code, str) or level_of(cset, code) is None):
        choices = ", ".join(lv.code for lv in cset.levels)
        raise InvalidInput(
            _l("Mức độ đăng ký không hợp lệ."),
            details={
                "level_applied": (
                    _l("Chọn một trong: %(choices)s", choices=choices)
                    if choices
                    else _l("Bộ tiêu chí này chấm điểm, không có mức độ")
                )
            },
        )
    if code == case.level_applied:
        return None
    return {"old": case.level_applied, "new": code}


def save_assessment(
    case_id: int,
    entries: list[dict],
    user: User,
    *,
    expected_version: int | None = None,
    now: datetime | None = None,
    source: dict | None = None,
    level_applied=KEEP,
) -> Case:
    """Save self-assessment scores and evidence, or a reviewer's adjusted scores.

    In draft or returned, the applicant (or a commune officer or the village head on a
    household's behalf) enters scores; in a reviewing stage, a reviewer of that stage adjusts
    scores with a note and both values are kept. ``source`` (an entry in bulk: the grid, or a
    file and its row) is kept in the history beside who entered it. ``level_applied`` (a
    levels-kind set: the code of the level applied for, or None to clear it) is the
    applicant's choice, left as it is when not given.
    """
    registry = get_registry()
    now = now or utcnow()
    case = _load_case_for(case_id, user, lock=True)
    if expected_version is not None and case.version != expected_version:
        raise Conflict(
            _l("Hồ sơ đã được người khác cập nhật trước bạn."),
            details={"current_version": case.version, "state": case.state},
        )
    definition = registry.definition_of(case)
    state = definition.states[case.state]
    cset = registry.criteria_set(case.criteria_set_id)
    cleaned = validate_scores(cset, entries)
    level_change = _level_change(cset, case, level_applied)
    items = {
        item.code: item
        for item in db.session.scalars(
            select(AssessmentItem).where(AssessmentItem.case_id == case.id)
        )
    }
    changes = []
    if state.kind == "applicant":
        on_behalf = user.role in ON_BEHALF_ENTRY_ROLES and case.entry_level == "commune"
        if user.role != "applicant" and not on_behalf:
            raise NotAllowed(
                _l(
                    "Chỉ người nộp hồ sơ (hoặc cán bộ xã, trưởng thôn nhập hộ) "
                    "được sửa bản tự đánh giá."
                )
            )
        for entry in cleaned:
            item = items[entry["code"]]
            changes.append({"code": item.code, "old": item.score, "new": entry.get("score")})
            item.score = entry.get("score")
            if "evidence" in entry:
                item.evidence = entry.get("evidence")
            item.entered_by_id = user.id
        if level_change is not None:
            case.level_applied = level_change["new"]
        trigger = "assess"
    elif state.is_review and user.role in state.roles:
        if claim_holder(case, user, state, None) not in (None, user.id):
            raise NotAllowed(
                _l("Hồ sơ đang do cán bộ khác nhận xử lý; chỉ người đó được thao tác.")
            )
        for entry in cleaned:
            item = items[entry["code"]]
            if entry.get("score") is None:
                continue
            note = nfc(entry.get("note") or entry.get("evidence") or "")
            if not note:
                raise InvalidInput(
                    _l("Cần ghi lý do điều chỉnh điểm tiêu chí %(code)s.", code=item.code),
                    details={f"items[{item.code}].note": _l("Bắt buộc khi điều chỉnh điểm")},
                )
            changes.append(
                {
                    "code": item.code,
                    "self": item.score,
                    "old": item.reviewed_score,
                    "new": entry["score"],
                    "note": note,
                }
            )
            item.reviewed_score = entry["score"]
            item.review_note = note
            item.reviewed_by_id = user.id
            item.reviewed_stage = case.state
        if level_change is not None:
            raise InvalidInput(
                _l("Chỉ người nộp hồ sơ được chọn mức độ đăng ký."),
                details={"level_applied": _l("Không được đổi ở bước thẩm định")},
            )
        trigger = "adjust_scores"
    else:
        raise NotAllowed(_l("Không thể sửa điểm ở bước hiện tại của hồ sơ."))
    db.session.flush()
    case.self_score, case.score = db.session.execute(
        select(
            func.sum(AssessmentItem.score),
            func.sum(func.coalesce(AssessmentItem.reviewed_score, AssessmentItem.score)),
        ).where(AssessmentItem.case_id == case.id)
    ).one()
    # a save is a change another officer's open form must not silently undo (optimistic lock)
    case.version = case.version + 1
    data = {"items": changes, "source": source} if source else {"items": changes}
    if level_change is not None:
        data["level_applied"] = level_change
    _record_event(case, user, trigger, comment=None, now=now, data=data)
    return case


def erase_evidence_of(subject_id: int) -> None:
    """Erase the evidence text of every case of a subject (personal data); scores stay."""
    case_ids = select(Case.id).where(Case.subject_id == subject_id).scalar_subquery()
    db.session.execute(
        update(AssessmentItem)
        .where(AssessmentItem.case_id.in_(case_ids))
        .values(evidence=None)
        .execution_options(synchronize_session=False)
    )
