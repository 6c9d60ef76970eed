"""Outbox delivery, the inbox, deadline extensions and the escalation scan (in process)."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from htsd_workflow.cases.models import Case, CaseEvent, StageVisit
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed
from htsd_workflow.extensions import db
from htsd_workflow.jobs.runner import commit_each
from htsd_workflow.notifications.models import Delivery, Notification, OutboxMessage
from htsd_workflow.notifications.operations import (
    dispatch_pending,
    inbox_for,
    mark_read,
    send_digests,
    unread_count,
)
from htsd_workflow.notifications.sending import send_delivery
from htsd_workflow.sla.operations import ScanResult, extend_deadline, scan_batches, scan_sla
from tests.factories import COMMUNE, DISTRICT, PROVINCE

MONDAY = datetime(2026, 12, 7, 2)  # 09:00 local


def inbox_titles(user):
    return [n.title for n in inbox_for(user)]


def test_submission_tells_the_applicant_and_the_commune_queue_once(ctx, make):
    case, applicant = make.draft(now=MONDAY)
    applicant.email = "ho@example.vn"
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    other_commune = make.user("commune_reviewer", "23284")
    fire_trigger(case.id, "submit", applicant, now=MONDAY)
    db.session.commit()
    email_ids = dispatch_pending().email_ids
    db.session.commit()
    assert dispatch_pending().messages == 0  # a second dispatch finds nothing to do
    assert len(inbox_for(applicant)) == 1 and len(inbox_for(reviewer)) == 1
    assert inbox_for(other_commune) == []
    message = inbox_for(reviewer)[0]
    assert message.link == f"/cases/{case.id}"
    assert "xem xét và xử lý hồ sơ" in message.body and "17:00" in message.body
    assert len(email_ids) == 1
    assert send_delivery(email_ids[0]) == "sent"
    assert send_delivery(email_ids[0]) == "skipped"  # never sent twice once sent
    eml = list((Path(ctx.instance_path) / "mail").glob("*.eml"))
    assert eml and "Message-ID" in eml[-1].read_text()


def test_return_upstream_tells_the_previous_level(ctx, make):
    case, applicant = make.case_in("district_verification")
    commune = make.reviewer("commune_reviewer", COMMUNE)
    district = make.reviewer("district_reviewer", DISTRICT)
    dispatch_pending()
    before = len(inbox_for(commune))
    fire_trigger(case.id, "return_to_applicant", district, comment="Thiếu minh chứng")
    dispatch_pending()
    db.session.commit()
    assert len(inbox_for(commune)) == before + 1
    assert "Thiếu minh chứng" in inbox_for(applicant)[0].body


def test_both_departments_hear_of_a_case_at_provincial_confirmation(ctx, make):
    education = make.reviewer("education_reviewer", PROVINCE)
    culture = make.reviewer("culture_reviewer", PROVINCE)
    make.case_in("provincial_confirmation")
    dispatch_pending()
    assert len(inbox_for(education)) == 1 and len(inbox_for(culture)) == 1


def test_a_rolled_back_change_sends_nothing(ctx, make):
    case, applicant = make.draft()
    fire_trigger(case.id, "submit", applicant)
    db.session.rollback()
    assert (
        dispatch_pending().messages == 0
        and db.session.scalar(select(func.count()).select_from(Notification)) == 0
    )


def test_inbox_read_and_unread(ctx, make):
    case, applicant = make.case_in("commune_review")
    dispatch_pending()
    assert unread_count(applicant) == 1
    assert mark_read(applicant) == 1 and unread_count(applicant) == 0


def test_deadline_is_extended_once_with_a_reason_and_the_applicant_is_told(ctx, make):
    case, applicant = make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    with pytest.raises(InvalidInput):
        extend_deadline(case.id, reviewer, date(2026, 12, 30), "  ", now=MONDAY)
    with pytest.raises(InvalidInput):
        extend_deadline(case.id, reviewer, date(2026, 12, 26), "Chờ họp", now=MONDAY)  # Sat
    with pytest.raises(NotAllowed):
        extend_deadline(
            case.id,
            make.reviewer("district_reviewer", DISTRICT),
            date(2026, 12, 30),
            "x",
            now=MONDAY,
        )
    version = case.version
    extended = extend_deadline(case.id, reviewer, date(2026, 12, 30), "Chờ họp thôn", now=MONDAY)
    db.session.commit()
    assert extended.version == version and extended.is_extended
    assert extended.due_at == datetime(2026, 12, 30, 10)  # 17:00 local
    visit = db.session.scalar(
        select(StageVisit).where(StageVisit.case_id == case.id, StageVisit.left_at.is_(None))
    )
    assert visit.due_at == extended.due_at
    with pytest.raises(Conflict):
        extend_deadline(case.id, reviewer, date(2026, 12, 31), "Lần hai", now=MONDAY)
    dispatch_pending()
    assert any("gia hạn" in t for t in inbox_titles(applicant))


def test_scan_reminds_then_escalates_each_rung_once(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    district = make.reviewer("district_reviewer", DISTRICT)
    due = db.session.get(Case, case.id).due_at
    assert scan_sla(MONDAY + timedelta(days=1)).total == 0
    assert scan_sla(due - timedelta(days=2)).fired == {1: 1}  # 75 % of ten working days
    assert scan_sla(due - timedelta(days=2)).total == 0  # once only
    later = due + timedelta(hours=1)
    assert scan_sla(later).fired == {2: 1}
    db.session.commit()
    current = db.session.get(Case, case.id)
    assert current.is_escalated and current.escalation_rung == 2
    assert current.version == case.version  # escalation never makes a reviewer's view stale
    triggers = db.session.scalars(
        select(CaseEvent.trigger).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
    ).all()
    assert triggers[-2:] == ["remind", "escalate"]
    dispatch_pending()
    assert len(inbox_for(district)) == 1  # the supervising level is told
    assert len(inbox_for(reviewer)) == 3  # arrival, reminder, escalation


def test_a_case_found_far_overdue_gets_only_the_strongest_rung(ctx, make):
    case, _ = make.case_in("commune_review", now=MONDAY)
    manager = make.user("manager", DISTRICT)
    result = scan_sla(MONDAY + timedelta(days=40))
    assert result.fired == {3: 1}
    dispatch_pending()
    assert len(inbox_for(manager)) == 1


@pytest.mark.postgres_only
def test_two_scans_at_once_escalate_each_case_once(ctx, make):
    for _ in range(6):
        make.case_in("commune_review", now=MONDAY)
    db.session.commit()
    barrier = threading.Barrier(2)
    results = []

    def scan():
        with ctx.app_context():
            barrier.wait(5)
            # as the worker does: committed batch by batch
            batches = scan_batches(MONDAY + timedelta(days=20), batch_size=2)
            results.append(ScanResult.of(commit_each(batches)).total)
            db.session.remove()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(results) == 6
    escalations = db.session.scalar(
        select(func.count()).where(CaseEvent.trigger.in_(("remind", "escalate")))
    )
    assert escalations == 6


def test_daily_digest_once_per_reviewer_and_day(ctx, make):
    make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    reviewer.email = "xa@example.vn"
    now = MONDAY + timedelta(days=30)
    assert send_digests(now) >= 1
    send_digests(now)
    db.session.commit()
    digests = [n for n in inbox_for(reviewer) if n.key.startswith("digest:")]
    assert len(digests) == 1 and "Quá hạn: 1" in digests[0].body
    assert db.session.scalar(select(func.count()).where(Delivery.key.like("digest:%"))) == 1
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) >= 1


def test_scan_and_drain_from_the_command_line(ctx, make):
    make.case_in("commune_review", now=MONDAY)
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["sla", "scan", "--at", "2027-01-15T08:00"])
    assert result.exit_code == 0 and "rung 3: 1" in result.output
    result = runner.invoke(args=["outbox", "drain"])
    assert result.exit_code == 0 and "event(s) delivered" in result.output
    assert db.session.scalar(select(func.count()).where(OutboxMessage.dispatched_at.is_(None))) == 0
