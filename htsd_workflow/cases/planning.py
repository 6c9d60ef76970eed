"""Planning a transition: check it against the shared machine and the case's facts (missing
scores, signatures, pass mark) and return the change to write, before any row is written."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select
from transitions import MachineError

from htsd_workflow.auth.models import User
from htsd_workflow.cases import pg_writer
from htsd_workflow.cases.definitions import TransitionDef
from htsd_workflow.cases.engine import (
    TransitionContext,
    WorkflowRegistry,
    get_registry,
    reads_missing_items,
)
from htsd_workflow.cases.meetings import meeting_votes
from htsd_workflow.cases.models import (
    MAX_COMMENT_LENGTH,
    AssessmentItem,
    Case,
    SignOff,
)
from htsd_workflow.cases.permissions import _check_actor, actor_department
from htsd_workflow.core import labels
from htsd_workflow.core.errors import (
    BelowPassMark,
    Conflict,
    InvalidInput,
    NotAllowed,
    later,
)
from htsd_workflow.core.text import nfc
from htsd_workflow.criteria.scoring import ScoreResult, compute_result
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.geography.queries import unit_is_dbkk_in

#: triggers that move a case forward towards recognition: refused below the pass mark unless
#: the reviewer gives an override reason
PASS_MARK_TRIGGERS = ("approve", "sign")
#: the stage that a required village meeting must come before
COMMUNE_REVIEW = "commune_review"


_SNAPSHOT_COLUMNS = (
    Case.id,
    Case.subject_id,
    Case.title,
    Case.workflow,
    Case.year,
    Case.state,
    Case.is_open,
    Case.version,
    Case.entry_level,
    Case.returned_from,
    Case.province_code,
    Case.district_code,
    Case.commune_code,
    Case.claimed_by_id,
    Case.criteria_set_id,
    Case.level_applied,
    Case.due_at,
    Case.submitted_at,
    Case.stage_entered_at,
)


@dataclass
class PlannedChange:
    """One case's transition, checked and ready to be written."""

    case: object  # a snapshot row with the _SNAPSHOT_COLUMNS
    transition: TransitionDef
    from_state: str
    to_state: str
    department: str | None = None
    comment: str | None = None
    #: a failing case moved forward anyway: the reason, the score and the mark (for history)
    override: dict | None = None

    @property
    def changes_state(self) -> bool:
        return self.from_state != self.to_state


def _missing_items(case_ids, registry: WorkflowRegistry, snapshots, cur=None) -> dict[int, tuple]:
    """Criteria item codes without a self-assessed score, per case (one query)."""
    scored = defaultdict(set)
    if cur is not None:
        rows = pg_writer.scored_items(cur, case_ids)
    else:
        rows = db.session.execute(
            select(AssessmentItem.case_id, AssessmentItem.code).where(
                AssessmentItem.case_id.in_(case_ids), AssessmentItem.score.is_not(None)
            )
        )
    for case_id, code in rows:
        scored[case_id].add(code)
    missing = {}
    for snap in snapshots:
        cset = registry.criteria_set(snap.criteria_set_id)
        missing[snap.id] = tuple(i.code for i in cset.items if i.code not in scored[snap.id])
    return missing


@cache
def _scores_statement():
    """The statement of ``score_results``, built once: the cases' ids go in as one expanding
    parameter (building the select and its cache key anew on every approval cost more than
    the rest of the pass-mark check)."""
    return (
        select(
            Case.id,
            AssessmentItem.code,
            func.coalesce(AssessmentItem.reviewed_score, AssessmentItem.score),
            unit_is_dbkk_in(Case.year),
            Case.level_applied,
        )
        .select_from(Case)
        .outerjoin(AssessmentItem, AssessmentItem.case_id == Case.id)
        .outerjoin(Unit, Unit.code == Case.commune_code)
        .where(Case.id.in_(bindparam("case_ids", expanding=True)))
    )


def score_results(cases) -> dict[int, ScoreResult]:
    """The score that counts (reviewers' adjusted scores where given) and pass/fail of each
    case, against the pass mark of its commune's ĐBKK status in the case's year; ``cases`` are
    rows or objects with id and criteria_set_id (one statement in all)."""
    cases = list(cases)
    if not cases:
        return {}
    registry = get_registry()
    scores: dict[int, dict] = defaultdict(dict)
    dbkk: set[int] = set()
    applied: dict[int, str] = {}
    rows = db.session.execute(_scores_statement(), {"case_ids": [c.id for c in cases]})
    for case_id, code, score, is_dbkk, level_applied in rows:
        if code is not None:
            scores[case_id][code] = score
        if is_dbkk:
            dbkk.add(case_id)
        if level_applied is not None:
            applied[case_id] = level_applied
    return {
        c.id: compute_result(
            registry.criteria_set(c.criteria_set_id),
            scores[c.id],
            c.id in dbkk,
            applied.get(c.id),
        )
        for c in cases
    }


def _vn(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _check_pass_mark(result: ScoreResult | None, override_reason: str | None):
    """The override record of a failing case moved forward, None for a passing one; refuse a
    failing case without a reason."""
    if result is None or result.passed:
        return None
    reason = clean_comment(override_reason, "override_reason")
    facts = {"total": result.total, "max_total": result.max_total, "pass_mark": result.pass_mark}
    if reason is None and result.applied is not None and result.level is not None:
        # a level reached, but below the one applied for
        raise BelowPassMark(
            _l(
                "Hồ sơ đăng ký “%(applied)s” nhưng chỉ đạt “%(reached)s”. Muốn vẫn chuyển tiếp, "
                "ghi lý do vào ô “Lý do chuyển tiếp dù chưa đạt”.",
                applied=result.applied.label if result.applied else "",
                reached=result.level.label,
            ),
            details={
                "override_reason": _l("Bắt buộc khi chuyển tiếp hồ sơ chưa đạt mức độ đăng ký"),
                **facts,
            },
        )
    if reason is None and result.kind == "levels":
        raise BelowPassMark(
            _l(
                "Hồ sơ chưa đạt mức độ nào: đạt %(total)s/%(max)s chỉ số. Muốn vẫn chuyển tiếp, "
                "ghi lý do vào ô “Lý do chuyển tiếp dù chưa đạt”.",
                total=_vn(result.total),
                max=_vn(result.max_total),
            ),
            details={
                "override_reason": _l("Bắt buộc khi chuyển tiếp hồ sơ chưa đạt mức độ"),
                **facts,
            },
        )
    if reason is None:
        raise BelowPassMark(
            _l(
                "Hồ sơ chưa đạt: được %(total)s/%(max)s điểm, dưới điểm đạt %(mark)s. Muốn vẫn "
                "chuyển tiếp, ghi lý do vào ô “Lý do chuyển tiếp dù chưa đạt”.",
                total=_vn(result.total),
                max=_vn(result.max_total),
                mark=_vn(result.pass_mark),
            ),
            details={
                "override_reason": _l("Bắt buộc khi chuyển tiếp hồ sơ chưa đạt điểm"),
                **facts,
            },
        )
    return {"reason": reason, **facts}


def _signed_departments(case_ids, cur=None) -> dict[int, set[str]]:
    signed = defaultdict(set)
    if cur is not None:
        rows = pg_writer.signed_departments(cur, case_ids)
    else:
        rows = db.session.execute(
            select(SignOff.case_id, SignOff.department).where(SignOff.case_id.in_(case_ids))
        )
    for case_id, department in rows:
        signed[case_id].add(department)
    return signed


def clean_comment(comment: str | None, field: str = "comment") -> str | None:
    """``comment`` in NFC without surrounding spaces (None when empty); refused, naming
    ``field``, when longer than ``MAX_COMMENT_LENGTH`` characters."""
    comment = nfc(comment) or None
    if comment is not None and len(comment) > MAX_COMMENT_LENGTH:
        raise InvalidInput(
            _l("Nhận xét quá dài (tối đa %(limit)s ký tự).", limit=MAX_COMMENT_LENGTH),
            details={field: _l("Tối đa %(limit)s ký tự", limit=MAX_COMMENT_LENGTH)},
        )
    return comment


def guard_context(snap, definition, missing: dict, signed_now: frozenset) -> TransitionContext:
    """What the machine's guards look at for the case ``snap`` (its missing scores when
    ``missing`` has them; the departments that have signed, with the one signing now)."""
    return TransitionContext(
        state=snap.state,
        entry_level=snap.entry_level,
        returned_from=snap.returned_from,
        missing_items=missing.get(snap.id),
        signed_departments=signed_now,
        joint_departments=definition.states[snap.state].joint,
    )


def _plan(
    snap,
    trigger: str,
    user: User,
    comment: str | None,
    registry: WorkflowRegistry,
    missing: dict,
    signed: dict,
    part_claims: dict | None = None,
    results: dict | None = None,
    override_reason: str | None = None,
) -> PlannedChange:
    definition = registry.definition_of(snap)
    if trigger not in definition.triggers:
        raise InvalidInput(
            _l("Thao tác “%(trigger)s” không có trong quy trình.", trigger=trigger),
            details={
                "trigger": _l("Chọn một trong: %(choices)s", choices=", ".join(definition.triggers))
            },
        )
    specs = definition.candidates(trigger, snap.state)
    if not specs:
        raise Conflict(
            _l(
                "Không thể thực hiện “%(trigger)s” khi hồ sơ đang ở bước “%(state)s”.",
                trigger=later(labels.trigger_label, trigger, snap.state),
                state=later(labels.state_label, snap.state, definition),
            ),
            details={"state": snap.state, "trigger": trigger},
        )
    # both callers (``fire_trigger``, ``fire_bulk``) refuse a case outside the territory first
    _check_actor(user, snap, definition, specs, part_claims, scoped=True)
    comment = clean_comment(comment)
    if any(s.comment_required for s in specs) and not comment:
        raise InvalidInput(
            _l("Cần ghi rõ lý do hoặc nội dung cần bổ sung."),
            details={"comment": _l("Bắt buộc nhập nhận xét cho thao tác này.")},
        )
    state = definition.states[snap.state]
    department = None
    signed_now = frozenset(signed.get(snap.id, ()))
    if trigger == "sign":
        department = actor_department(user)
        if department is None or department not in state.joint:
            raise NotAllowed(_l("Chỉ các sở tham gia xác nhận liên ngành mới được ký."))
        if department in signed_now:
            raise Conflict(
                _l(
                    "%(department)s đã ký xác nhận hồ sơ này.",
                    department=labels.DEPARTMENT_LABELS.get(department, department),
                ),
                details={"department": department},
            )
        signed_now = signed_now | {department}
    override = None
    if trigger in PASS_MARK_TRIGGERS:
        override = _check_pass_mark((results or {}).get(snap.id), override_reason)
    if (
        snap.level_applied is None
        and reads_missing_items(specs)
        and registry.criteria_set(snap.criteria_set_id).kind == "levels"
    ):
        # a levels set is read against the level applied for: submitted only with one chosen
        raise InvalidInput(
            _l("Chưa chọn mức độ đăng ký. Chọn ở ô “Mức độ đăng ký” rồi gửi lại."),
            details={"level_applied": _l("Bắt buộc chọn mức độ đăng ký trước khi gửi")},
        )
    ctx = guard_context(snap, definition, missing, signed_now)
    try:
        taken = registry.engine_of(snap).run(ctx, trigger)
    except MachineError as exc:  # pragma: no cover - candidates() already checked the source
        raise Conflict(_l("Hồ sơ không còn ở bước cho phép thao tác này.")) from exc
    if taken is None:
        missing_codes = missing.get(snap.id)
        if missing_codes:
            raise InvalidInput(
                _l(
                    "Bản tự đánh giá chưa đầy đủ: còn thiếu điểm các tiêu chí %(codes)s.",
                    codes=", ".join(missing_codes),
                ),
                details={"assessment": {code: _l("Chưa chấm điểm") for code in missing_codes}},
            )
        raise NotAllowed(_l("Hồ sơ không đáp ứng điều kiện để thực hiện thao tác này."))
    if (
        definition.village_meeting == "required"
        and taken.dest == COMMUNE_REVIEW
        and snap.id not in meeting_votes([snap.id])
    ):
        raise InvalidInput(
            _l("Chưa có kết quả họp bình xét của thôn cho hộ này; cần họp thôn trước khi gửi xã."),
            details={"village_meeting": _l("Bắt buộc theo quy trình")},
        )
    if user.role not in taken.roles:
        # the roles were checked as a union over the trigger's rows; the row that fires decides
        raise NotAllowed(
            _l(
                "Vai trò của bạn không được thực hiện thao tác này khi hồ sơ ở bước “%(state)s”.",
                state=later(labels.state_label, snap.state, definition),
            )
        )
    return PlannedChange(
        case=snap,
        transition=taken,
        from_state=snap.state,
        to_state=ctx.state,
        department=department,
        comment=comment,
        override=override,
    )
