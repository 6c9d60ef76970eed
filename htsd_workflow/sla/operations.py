"""Deadline extensions and the escalation scan.

The scan never commits: ``scan_batches`` yields after each batch, where the worker and the
command line commit (``jobs.runner.commit_each``); ``scan_sla`` runs it all in the caller's
transaction. It is set-based: for each stage and rung it walks the matching open cases by id in
batches, and per batch one conditional UPDATE (``escalation_rung < rung``) claims the cases, and
their stage-visit flags, history rows and outbox rows are written for the claimed cases only.
The condition makes every rung fire once per case and stage, however often and however many
scans run at once. Rungs are tried highest first, so a case found far overdue gets the strongest
rung only. On PostgreSQL a batch is two statements (``cases.pg_escalation``: pick-and-claim,
then one statement writing the rest); elsewhere a select and four SQLAlchemy statements
(``cases.escalation.fire_rung``). When a rung is due is ``cases.rules.rung_due``; the rows are
written by ``cases/``, the one package that writes case tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases import pg_escalation as pgscan
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.escalation import fire_rung
from htsd_workflow.cases.extensions import record_extension
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.rules import rung_due
from htsd_workflow.core import pg
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import LOCAL_TZ, to_local, to_utc_naive, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.sla.ladder import rung_thresholds

SCAN_BATCH = 5000


@dataclass
class ScanResult:
    fired: dict[int, int]  # rung -> cases

    @property
    def total(self) -> int:
        return sum(self.fired.values())

    @classmethod
    def of(cls, batches: Iterable[tuple[int, int]]) -> ScanResult:
        """The sum of ``scan_batches``' (rung, cases) pairs."""
        fired: dict[int, int] = {}
        for rung, count in batches:
            fired[rung] = fired.get(rung, 0) + count
        return cls(fired=fired)


def scan_sla(now: datetime | None = None, *, batch_size: int = SCAN_BATCH) -> ScanResult:
    """Apply the ladder of every definition to the open cases at ``now``, in the caller's
    transaction (the worker and the command line commit batch by batch instead:
    ``jobs.runner.commit_each(scan_batches(...))``)."""
    return ScanResult.of(scan_batches(now, batch_size=batch_size))


def scan_batches(
    now: datetime | None = None, *, batch_size: int = SCAN_BATCH
) -> Iterator[tuple[int, int]]:
    """Walk every definition's stages and rungs (highest first), claiming the due cases of
    each rung batch by batch; yields (rung, cases claimed) after each batch, where the caller
    may commit. Never commits itself."""
    fire = _fire_batches_portable if pg.cursor() is None else _fire_batches_postgres
    return _batches(fire, now or utcnow(), batch_size)


def _batches(fire, now: datetime, batch_size: int) -> Iterator[tuple[int, int]]:
    """``scan_batches`` with ``fire`` claiming the due cases of one rung batch by batch,
    yielding after each batch how many it claimed."""
    registry = get_registry()
    calendar = get_calendar()
    # every set's: each case is due by the stages and ladder of the definition it records
    for definition in registry.every_definition():
        rungs = sorted(definition.escalation, key=lambda r: -r.rung)
        for stage in definition.review_states:
            for rung in rungs:
                entered_before, due_before = rung_thresholds(
                    rung, sla_days=stage.sla_days, now=now, calendar=calendar
                )
                for count in fire(
                    title=definition.title,
                    workflow=definition.ref,
                    stage=stage.name,
                    rung=rung,
                    entered_before=entered_before,
                    due_before=due_before,
                    now=now,
                    calendar=calendar,
                    batch_size=batch_size,
                ):
                    yield rung.rung, count


def _fire_batches_postgres(
    *, title, workflow, stage, rung, entered_before, due_before, now, calendar, batch_size
):
    """PostgreSQL: the due cases of the rung in one query; per batch one statement claims,
    one writes the rest (``cases.pg_escalation``)."""
    where = {
        "title": title,
        "workflow": workflow,
        "stage": stage,
        "rung": rung,
        "entered_before": entered_before,
        "due_before": due_before,
    }
    due = pgscan.due_cases(pg.cursor(), **where)
    for start in range(0, len(due), batch_size):
        # a cursor per batch: a commit between batches hands the connection back to the pool
        cur = pg.cursor()
        claimed = pgscan.claim(cur, due[start : start + batch_size], **where)
        if claimed:
            pgscan.write(cur, stage=stage, rung=rung, claimed=claimed, now=now, calendar=calendar)
            db.session.info["outbox_written"] = True
        yield len(claimed)


def _fire_batches_portable(
    *, title, workflow, stage, rung, entered_before, due_before, now, calendar, batch_size
):
    """Any database: per batch a select, a conditional update, and the rows it writes."""
    conditions = rung_due(
        title=title,
        workflow=workflow,
        stage=stage,
        rung=rung.rung,
        entered_before=entered_before,
        due_before=due_before,
    )
    last_id = 0
    while True:
        ids = list(
            db.session.scalars(
                select(Case.id)
                .where(*conditions, Case.id > last_id)
                .order_by(Case.id)
                .limit(batch_size)
            )
        )
        if not ids:
            return
        last_id = ids[-1]
        yield fire_rung(ids, conditions, rung, stage, now, calendar)


#: the longest extension a reviewer may give at once, in working days (more is a typing slip)
MAX_EXTENSION_WORKING_DAYS = 30


def extend_deadline(
    case_id: int,
    user: User,
    new_due_date: date | None,
    reason: str,
    *,
    working_days: int | None = None,
    now: datetime | None = None,
) -> Case:
    """Extend the current stage's deadline once, with a reason; the applicant is told.

    The new deadline is ``new_due_date`` (17:00 that day) or, given ``working_days``, that many
    working days after the current due day (after today when the case is already overdue).
    """
    now = now or utcnow()
    if working_days is not None and (
        isinstance(working_days, bool)
        or not isinstance(working_days, int)
        or not 1 <= working_days <= MAX_EXTENSION_WORKING_DAYS
    ):
        raise InvalidInput(
            _l(
                "Số ngày gia hạn phải là số nguyên từ 1 đến %(max)s ngày làm việc.",
                max=MAX_EXTENSION_WORKING_DAYS,
            ),
            details={"working_days": _l("Từ 1 đến %(max)s", max=MAX_EXTENSION_WORKING_DAYS)},
        )
    case = db.session.scalar(
        select(Case)
        .where(Case.id == case_id)
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    )
    if case is None or not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    state = get_registry().definition_of(case).states[case.state]
    if not state.is_review or user.role not in state.roles:
        raise NotAllowed(_l("Chỉ cấp đang xử lý hồ sơ mới được gia hạn."))
    if case.is_extended:
        raise Conflict(_l("Hồ sơ đã được gia hạn một lần ở bước này; không thể gia hạn thêm."))
    reason = nfc(reason)
    if not reason:
        raise InvalidInput(_l("Cần ghi lý do gia hạn."), details={"reason": _l("Bắt buộc")})
    current = to_local(case.due_at).date() if case.due_at else to_local(now).date()
    if working_days is not None:
        start = max(current, to_local(now).date())
        new_due_date = get_calendar().add_working_days(start, working_days)
    if new_due_date is None:
        raise InvalidInput(
            _l("Cần chọn hạn mới hoặc số ngày làm việc được gia hạn."),
            details={"working_days": _l("Bắt buộc")},
        )
    if new_due_date <= current:
        raise InvalidInput(
            _l("Hạn mới phải sau hạn hiện tại (%(date)s).", date=current.strftime("%d/%m/%Y")),
            details={"new_due_date": _l("Chọn ngày sau hạn hiện tại")},
        )
    if not get_calendar().is_working_day(new_due_date):
        raise InvalidInput(
            _l(
                "Ngày %(date)s là ngày nghỉ; hãy chọn một ngày làm việc.",
                date=new_due_date.strftime("%d/%m/%Y"),
            ),
            details={"new_due_date": _l("Chọn ngày làm việc")},
        )
    old_due = case.due_at
    new_due = to_utc_naive(datetime.combine(new_due_date, time(17), tzinfo=LOCAL_TZ))
    record_extension(case, user, new_due, reason, now)
    record_audit(
        "deadline_extended",
        actor=user,
        target=f"case:{case.id}",
        details={
            "old_due_at": old_due.isoformat() if old_due else None,
            "new_due_at": new_due.isoformat(),
            "reason": reason,
        },
    )
    return case
