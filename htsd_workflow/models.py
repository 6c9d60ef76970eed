"""Every table, imported in one place for Alembic and create_app."""

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.auth.models import ApiToken, User
from htsd_workflow.cases.models import (
    AssessmentItem,
    Case,
    CaseEvent,
    Round,
    SignOff,
    StageVisit,
    VillageMeeting,
    VillageMeetingVote,
)
from htsd_workflow.core.models import CalendarException
from htsd_workflow.decisions.models import CertificateJob, Decision, DecisionEntry
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.geography.models import DbkkPeriod, Unit
from htsd_workflow.imports.models import ImportJob
from htsd_workflow.notifications.models import Delivery, Notification, OutboxMessage
from htsd_workflow.queues.models import BulkJob, BulkJobItem
from htsd_workflow.reports.models import ClosedMonth, Denominator, MonthlyVisitFigures
from htsd_workflow.subjects.models import ClanMember, Subject

__all__ = [
    "ApiToken",
    "AuditEntry",
    "AssessmentItem",
    "Attachment",
    "BulkJob",
    "BulkJobItem",
    "CalendarException",
    "VillageMeeting",
    "VillageMeetingVote",
    "Case",
    "CaseEvent",
    "CertificateJob",
    "ClanMember",
    "ClosedMonth",
    "DbkkPeriod",
    "Decision",
    "DecisionEntry",
    "ImportJob",
    "Denominator",
    "Delivery",
    "MonthlyVisitFigures",
    "Notification",
    "OutboxMessage",
    "Round",
    "SignOff",
    "StageVisit",
    "Subject",
    "Unit",
    "User",
]
