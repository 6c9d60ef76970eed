"""The transition API: ``fire_trigger`` (one case), ``fire_bulk`` (many) and
``allowed_triggers``. Both fire paths share one way: lock the rows, plan each transition in
Python against the shared machine, then write with one statement per group of like changes.
Functions flush, never commit: the caller owns the commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l

from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope, in_scope_ids
from htsd_workflow.cases.engine import get_registry, reads_missing_items
from htsd_workflow.cases.models import (
    Case,
)
from htsd_workflow.cases.permissions import _check_actor, _require_active, actor_department
from htsd_workflow.cases.planning import (
    PASS_MARK_TRIGGERS,
    _missing_items,
    _plan,
    _signed_departments,
    clean_comment,
    guard_context,
    score_results,
)
from htsd_workflow.cases.writing import (
    _apply,
    _case_after,
    _expire_cases,
    _joint_part_claims,
    _lock,
)
from htsd_workflow.core import pg
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import (
    Conflict,
    DomainError,
    NotFound,
)
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db


@dataclass
class BulkResult:
    """Per-case outcome of a bulk call."""

    succeeded: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "succeeded": self.succeeded,
            "failed": self.failed,
            "counts": {"succeeded": len(self.succeeded), "failed": len(self.failed)},
        }


def _reads_missing_items(rows, trigger: str, registry) -> bool:
    """Whether firing ``trigger`` on one of ``rows`` evaluates a guard on missing scores."""
    return any(
        reads_missing_items(registry.definition_of(row).candidates(trigger, row.state))
        for row in rows
    )


def fire_trigger(
    case_id: int,
    trigger: str,
    user: User,
    *,
    comment: str | None = None,
    expected_version: int | None = None,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> Case:
    """Fire ``trigger`` on one case for ``user``; return the updated case.

    Approving or signing a case under its pass mark needs ``override_reason``, kept in the
    history.

    Raises NotFound, NotAllowed, InvalidInput or Conflict (stale ``expected_version`` is
    checked before whether the trigger is still allowed, so a reviewer who lost a race learns
    that someone acted first).
    """
    _require_active(user)
    registry = get_registry()
    now = now or utcnow()
    cur = pg.cursor()
    rows = _lock([case_id], cur)
    if not rows or not in_scope(user, rows[0]):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    snap = rows[0]
    if expected_version is not None and snap.version != expected_version:
        raise Conflict(
            _l("Hồ sơ đã được người khác cập nhật trước bạn."),
            details={"current_version": snap.version, "state": snap.state},
        )
    missing = (
        _missing_items([case_id], registry, rows, cur)
        if _reads_missing_items(rows, trigger, registry)
        else {}
    )
    signed = _signed_departments([case_id], cur) if trigger == "sign" else {}
    part_claims = _joint_part_claims(rows, registry)
    results = score_results(rows) if trigger in PASS_MARK_TRIGGERS else {}
    planned = _plan(
        snap,
        trigger,
        user,
        comment,
        registry,
        missing,
        signed,
        part_claims,
        results,
        override_reason,
    )
    versions, writes = _apply([planned], user, registry, get_calendar(), now, expected_version, cur)
    if cur is not None:
        return _case_after(snap, writes, now)
    _expire_cases([case_id])
    db.session.flush()
    return db.session.get(Case, case_id)


BULK_BATCH = 500


def fire_bulk(
    case_ids: list[int],
    trigger: str,
    user: User,
    *,
    comment: str | None = None,
    override_reason: str | None = None,
    now: datetime | None = None,
) -> BulkResult:
    """Fire ``trigger`` on many cases; cases that may not go through are listed with why
    (a case under its pass mark among them, unless ``override_reason`` is given)."""
    _require_active(user)
    clean_comment(comment)  # once for the whole request, not once per case
    registry = get_registry()
    calendar = get_calendar()
    now = now or utcnow()
    result = BulkResult()
    cur = pg.cursor()
    unique_ids = list(dict.fromkeys(int(i) for i in case_ids))
    for start in range(0, len(unique_ids), BULK_BATCH):
        batch = unique_ids[start : start + BULK_BATCH]
        rows = _lock(batch, cur)
        found = {row.id: row for row in rows}
        visible_ids = in_scope_ids(user, rows)
        visible = [row for row in rows if row.id in visible_ids]
        missing = (
            _missing_items([r.id for r in visible], registry, visible, cur)
            if visible and _reads_missing_items(visible, trigger, registry)
            else {}
        )
        signed = (
            _signed_departments([r.id for r in visible], cur)
            if trigger == "sign" and visible
            else {}
        )
        part_claims = _joint_part_claims(visible, registry)
        results = score_results(visible) if trigger in PASS_MARK_TRIGGERS and visible else {}
        planned = []
        for case_id in batch:
            row = found.get(case_id)
            if row is None or row.id not in visible_ids:
                result.failed.append(
                    {
                        "id": case_id,
                        "code": "not_found",
                        "message": str(_l("Không tìm thấy hồ sơ.")),
                    }
                )
                continue
            try:
                planned.append(
                    _plan(
                        row,
                        trigger,
                        user,
                        comment,
                        registry,
                        missing,
                        signed,
                        part_claims,
                        results,
                        override_reason,
                    )
                )
            except DomainError as exc:
                result.failed.append({"id": case_id, "code": exc.code, "message": exc.message})
        versions, _ = _apply(planned, user, registry, calendar, now, cur=cur)
        for change in planned:
            result.succeeded.append(
                {
                    "id": change.case.id,
                    "state": change.to_state,
                    "version": versions[change.case.id],
                }
            )
        _expire_cases([c.case.id for c in planned])
    db.session.flush()
    return result


def allowed_triggers(case: Case, user: User) -> list[str]:
    """Triggers ``user`` may fire on ``case`` now (for buttons and the API)."""
    registry = get_registry()
    definition = registry.definition_of(case)
    allowed = []
    missing = None
    signed = None
    part_claims = _joint_part_claims([case], registry)
    engine = registry.engine_of(case)
    for trigger in definition.triggers:
        specs = definition.candidates(trigger, case.state)
        if not specs:
            continue
        try:
            _check_actor(user, case, definition, specs, part_claims)
        except DomainError:
            continue
        signed_now = frozenset()
        if trigger == "sign":
            if signed is None:
                signed = _signed_departments([case.id])
            department = actor_department(user)
            if department in signed.get(case.id, set()):
                continue
            signed_now = frozenset(signed.get(case.id, set()) | {department})
        if missing is None and reads_missing_items(specs):
            missing = _missing_items([case.id], registry, [case])
        # the guards as the machine evaluates them when the trigger is fired (``_plan``), and
        # the row it would take decides the role
        context = guard_context(case, definition, missing or {}, signed_now)
        taken = engine.would_take(context, trigger)
        if taken is not None and user.role in taken.roles:
            allowed.append(trigger)
    return allowed
