"""The self-assessment: saving applicants' scores and reviewers' adjusted scores."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ON_BEHALF_ENTRY_ROLES
from htsd_workflow.auth.scope import in_scope_ids
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import (
    AssessmentItem,
    Case,
    CaseEvent,
)
from htsd_workflow.cases.permissions import _load_case_for, claim_holder, part_claims_of
from htsd_workflow.cases.planning import score_results
from htsd_workflow.cases.writing import _record_event
from htsd_workflow.core.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotAllowed,
    NotFound,
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
    current = {
        code: {column.key: getattr(item, column.key) for column in _ITEM_COLUMNS}
        for code, item in items.items()
    }
    new, changes, trigger = _planned_items(case, current, cleaned, user, state, None)
    if level_change is not None:
        if trigger != "assess":
            raise InvalidInput(
                _l("Chỉ người nộp hồ sơ được chọn mức độ đăng ký."),
                details={"level_applied": _l("Không được đổi ở bước thẩm định")},
            )
        case.level_applied = level_change["new"]
    for code, values in new.items():
        for key, value in values.items():
            if value != current[code][key]:
                setattr(items[code], key, value)
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


#: the item columns a save may change (``save_assessment``'s assignments)
_ITEM_COLUMNS = (
    AssessmentItem.id,
    AssessmentItem.case_id,
    AssessmentItem.code,
    AssessmentItem.score,
    AssessmentItem.evidence,
    AssessmentItem.entered_by_id,
    AssessmentItem.reviewed_score,
    AssessmentItem.review_note,
    AssessmentItem.reviewed_by_id,
    AssessmentItem.reviewed_stage,
)

#: cases read and written per round of statements by ``save_assessment_batch``
SAVE_BATCH = 500


def _planned_items(case, items: dict, cleaned: list[dict], user: User, state, part_claims):
    """What ``save_assessment`` would do to one case's items, without touching them: the new
    item values (copies), the history's list of changes and its trigger. Raises the same
    refusals in the same order."""
    changes = []
    new = {code: dict(values) for code, values in items.items()}
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
            item = new[entry["code"]]
            changes.append({"code": item["code"], "old": item["score"], "new": entry.get("score")})
            item["score"] = entry.get("score")
            if "evidence" in entry:
                item["evidence"] = entry.get("evidence")
            item["entered_by_id"] = user.id
        return new, changes, "assess"
    if state.is_review and user.role in state.roles:
        if claim_holder(case, user, state, part_claims) not in (None, user.id):
            raise NotAllowed(
                _l("Hồ sơ đang do cán bộ khác nhận xử lý; chỉ người đó được thao tác.")
            )
        for entry in cleaned:
            item = new[entry["code"]]
            if entry.get("score") is None:
                continue
            note = nfc(entry.get("note") or entry.get("evidence") or "")
            if not note:
                raise InvalidInput(
                    _l("Cần ghi lý do điều chỉnh điểm tiêu chí %(code)s.", code=item["code"]),
                    details={f"items[{item['code']}].note": _l("Bắt buộc khi điều chỉnh điểm")},
                )
            changes.append(
                {
                    "code": item["code"],
                    "self": item["score"],
                    "old": item["reviewed_score"],
                    "new": entry["score"],
                    "note": note,
                }
            )
            item["reviewed_score"] = entry["score"]
            item["review_note"] = note
            item["reviewed_by_id"] = user.id
            item["reviewed_stage"] = case.state
        return new, changes, "adjust_scores"
    raise NotAllowed(_l("Không thể sửa điểm ở bước hiện tại của hồ sơ."))


def _total(values) -> float | None:
    """SQL's SUM: None when no value is given."""
    given = [v for v in values if v is not None]
    return sum(given) if given else None


def save_assessment_batch(
    rows: list[dict], user: User, *, now: datetime | None = None
) -> tuple[list[dict], list[dict]]:
    """Save many cases' scores at once, writing what ``save_assessment`` would write for each.

    Each row: ``case_id``, ``items``, and optionally ``version`` and ``source``; no case may
    appear twice. Every case and its items are read (and the cases locked) with one statement
    each, each row is checked as ``save_assessment`` checks it (territory, version, scores,
    role, state, claim: the same refusals), then the items, the cases and the history are
    written with a few multi-row statements. Returns the rows saved (``id``, ``state``,
    ``version``, ``position`` in ``rows``) and those refused (``id``, ``code``, ``message``,
    ``position``); a refused row writes nothing.
    """
    registry = get_registry()
    now = now or utcnow()
    saved: list[dict] = []
    failed: list[dict] = []
    for start in range(0, len(rows), SAVE_BATCH):
        _save_batch(rows[start : start + SAVE_BATCH], start, user, registry, now, saved, failed)
    saved.sort(key=lambda s: s["position"])
    failed.sort(key=lambda f: f["position"])
    return saved, failed


def _save_batch(rows, offset, user, registry, now, saved, failed) -> None:
    ids = sorted({int(row["case_id"]) for row in rows})
    cases = {
        case.id: case
        for case in db.session.scalars(
            select(Case)
            .where(Case.id.in_(ids))
            .order_by(Case.id)
            .with_for_update(of=Case)
            .execution_options(populate_existing=True)
        )
    }
    visible = in_scope_ids(user, cases.values())
    current: dict[int, dict] = {case_id: {} for case_id in cases}
    for item in db.session.execute(
        select(*_ITEM_COLUMNS).where(AssessmentItem.case_id.in_(list(cases)))
    ).mappings():
        current[item["case_id"]][item["code"]] = item
    part_claims = part_claims_of(
        [c.id for c in cases.values() if registry.definition_of(c).states[c.state].joint]
    )
    item_writes: list[dict] = []
    case_writes: list[dict] = []
    events: list[dict] = []
    for position, row in enumerate(rows, start=offset):
        case_id = int(row["case_id"])
        case = cases.get(case_id)
        try:
            if case is None or case_id not in visible:
                raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
            expected = row.get("version")
            if expected is not None and case.version != expected:
                raise Conflict(
                    _l("Hồ sơ đã được người khác cập nhật trước bạn."),
                    details={"current_version": case.version, "state": case.state},
                )
            state = registry.definition_of(case).states[case.state]
            cleaned = validate_scores(
                registry.criteria_set(case.criteria_set_id), row.get("items") or []
            )
            new, changes, trigger = _planned_items(
                case, current[case_id], cleaned, user, state, part_claims
            )
        except DomainError as exc:
            failed.append(
                {"id": case_id, "code": exc.code, "message": exc.message, "position": position}
            )
            continue
        for code, values in new.items():
            before = current[case_id][code]
            changed = {k: v for k, v in values.items() if before[k] != v}
            if changed:
                item_writes.append({"id": values["id"], **changed})
        current[case_id] = new
        totals = {
            "self_score": _total(v["score"] for v in new.values()),
            "score": _total(
                v["reviewed_score"] if v["reviewed_score"] is not None else v["score"]
                for v in new.values()
            ),
            "version": case.version + 1,
        }
        case_writes.append({"id": case_id, **totals})
        for name, value in totals.items():  # the loaded case as it now is, without a reload
            set_committed_value(case, name, value)
        source = row.get("source")
        events.append(
            {
                "case_id": case_id,
                "at": now,
                "actor_id": user.id,
                "actor_role": user.role,
                "trigger": trigger,
                "from_state": case.state,
                "to_state": case.state,
                "comment": None,
                "data": {"items": changes, "source": source} if source else {"items": changes},
            }
        )
        saved.append(
            {"id": case_id, "state": case.state, "version": case.version, "position": position}
        )
    _write_items(item_writes, {e["case_id"] for e in events})
    if events:
        db.session.execute(update(Case).execution_options(synchronize_session=False), case_writes)
        db.session.execute(insert(CaseEvent), events)


def _write_items(item_writes: list[dict], case_ids: set[int]) -> None:
    """Write the changed item columns, one multi-row UPDATE per set of columns changed."""
    if item_writes:
        db.session.execute(
            update(AssessmentItem).execution_options(synchronize_session=False), item_writes
        )
    for obj in list(db.session.identity_map.values()):  # loaded items reload when next used
        if isinstance(obj, AssessmentItem) and obj.case_id in case_ids:
            db.session.expire(obj)


def erase_evidence_of(subject_id: int) -> None:
    """Erase the evidence text of every case of a subject (personal data); scores stay."""
    case_ids = select(Case.id).where(Case.subject_id == subject_id).scalar_subquery()
    db.session.execute(
        update(AssessmentItem)
        .where(AssessmentItem.case_id.in_(case_ids))
        .values(evidence=None)
        .execution_options(synchronize_session=False)
    )
