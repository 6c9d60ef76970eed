"""Cases (applications), their history, sign-offs, stage visits and yearly rounds."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.schema import DDL

from htsd_workflow.core.models import append_only_sql
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db


class Round(db.Model):
    """A yearly recognition round for one title, with its registration window."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("title", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(Integer)
    registration_opens_on: Mapped[date] = mapped_column(Date)
    registration_closes_on: Mapped[date] = mapped_column(Date)
    #: the date by which the whole round's review should be finished
    review_deadline: Mapped[date] = mapped_column(Date)
    #: each level's own deadline within the round, ISO dates by level (``LEVELS``:
    #: "commune", "district", "province"); a level not named has only ``review_deadline``
    level_deadlines: Mapped[dict | None] = mapped_column(JSON)

    #: the levels that may have a deadline of their own, in the order a case climbs them
    LEVELS = ("commune", "district", "province")

    @property
    def level_deadline_days(self) -> dict[str, date]:
        """Each level's own deadline as a date (levels without one left out)."""
        return {k: date.fromisoformat(v) for k, v in (self.level_deadlines or {}).items()}

    def deadline_of(self, level: str) -> date:
        """The day ``level`` must have finished its review by (the round's own deadline when
        the level has none)."""
        found = (self.level_deadlines or {}).get(level)
        return date.fromisoformat(found) if found else self.review_deadline

    def is_open_on(self, day: date) -> bool:
        return self.registration_opens_on <= day <= self.registration_closes_on


OPEN_WITH_DEADLINE = "is_open IS TRUE AND due_at IS NOT NULL"
#: what the reports read of a stage visit besides its moments: with them in the two covering
#: indexes below, the reports' scans of the visits overlapping a period are index-only
VISIT_REPORT_COLUMNS = [
    "due_at",
    "stage",
    "title",
    "province_code",
    "district_code",
    "commune_code",
    "outcome",
    "working_days",
    "is_late",
    "is_escalated",
]


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("subject_id", "title", "year"),
        # the reviewer queue: cases of one state inside a territory, by due date
        Index("ix_cases_queue_commune", "state", "commune_code", "due_at", "id"),
        Index("ix_cases_queue_district", "state", "district_code", "due_at", "id"),
        Index("ix_cases_queue_province", "state", "province_code", "due_at", "id"),
        Index("ix_cases_open_due", "is_open", "due_at"),
        # the bottleneck report's longest-waiting list: open cases with a deadline, oldest first
        Index(
            "ix_cases_open_waiting",
            "stage_entered_at",
            postgresql_where=text(OPEN_WITH_DEADLINE),
            sqlite_where=text(OPEN_WITH_DEADLINE),
        ),
        # the targets report's counts per area and title: an index-only scan of a year's
        # submitted cases, already in the order of its groups (no sort)
        Index(
            "ix_cases_targets",
            "year",
            "province_code",
            "district_code",
            "commune_code",
            "title",
            "subject_id",
            postgresql_include=["state"],
            postgresql_where=text("submitted_at IS NOT NULL"),
            sqlite_where=text("submitted_at IS NOT NULL"),
        ),
        # the escalation scan: the open cases of one title and stage, by due date, with the
        # moments its rungs compare; not the rung itself, so that the scan's own updates of
        # the rung can stay heap-only (HOT) where the page has room
        Index(
            "ix_cases_sla_scan",
            "title",
            "state",
            "due_at",
            postgresql_include=["id", "stage_entered_at"],
            postgresql_where=text("is_open"),
            sqlite_where=text("is_open"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    #: family, clan, community or unit
    title: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(Integer)
    #: the workflow set and definition the case runs under ("three_tier/family"): its
    #: province's set when it was opened, changed only by carrying it to another set
    #: (``cases.carrying``); every reader takes the case's definition from here
    #: (``registry.definition_of``), never from the installation's default set
    workflow: Mapped[str] = mapped_column(String(40))
    #: id of the criteria set version the self-assessment is scored against
    criteria_set_id: Mapped[str] = mapped_column(String(60))
    #: a levels-kind set: the code of the level (mức độ) the applicant applies for; the case
    #: passes when the level reached is at least this one (None: not chosen yet)
    level_applied: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(40))
    #: False once the case is in a final state (recognised, rejected, withdrawn)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    #: level of the unit that manages the subject: where the case enters review
    entry_level: Mapped[str] = mapped_column(String(10))
    #: the reviewing stage that returned the case; resubmission goes back there
    returned_from: Mapped[str | None] = mapped_column(String(40))
    # the unit path of the subject, so that scope filters are index range scans
    province_code: Mapped[str] = mapped_column(String(10))
    district_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    #: when the case entered its current state
    stage_entered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: end of the stage's last working day (17:00 local), stored as UTC; None outside review
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: whether the deadline of the current stage has been extended (allowed once per stage)
    is_extended: Mapped[bool] = mapped_column(Boolean, default=False)
    #: highest rung of the escalation ladder fired at the current stage (0 = none)
    escalation_rung: Mapped[int] = mapped_column(Integer, default=0)
    is_escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: self-assessed total, kept for queue display; computed from the items, never typed in
    self_score: Mapped[float | None] = mapped_column(Float)
    #: the total that counts: each item's reviewers' adjusted score where given, else the
    #: self-assessed one; kept by save_assessment for the queue, never typed in
    score: Mapped[float | None] = mapped_column(Float)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: optimistic lock: changes with state-changing actions and saved scores (not with claims)
    version: Mapped[int] = mapped_column(Integer, default=1)

    subject = relationship("Subject", lazy="joined")
    claimed_by = relationship("User", lazy="select")
    items = relationship(
        "AssessmentItem", lazy="select", order_by="AssessmentItem.position", viewonly=True
    )
    sign_offs = relationship("SignOff", lazy="select", order_by="SignOff.id", viewonly=True)
    part_claims = relationship("PartClaim", lazy="select", viewonly=True)


class AssessmentItem(db.Model):
    """One criteria item of a case's self-assessment, with the reviewers' adjustment."""

    __tablename__ = "assessment_items"
    __table_args__ = (UniqueConstraint("case_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    code: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: the applicant's own score
    score: Mapped[float | None] = mapped_column(Float)
    evidence: Mapped[str | None] = mapped_column(Text)
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the latest reviewer's score; pass/fail uses it when present
    reviewed_score: Mapped[float | None] = mapped_column(Float)
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_stage: Mapped[str | None] = mapped_column(String(40))

    @property
    def effective_score(self) -> float | None:
        return self.reviewed_score if self.reviewed_score is not None else self.score


#: the longest comment (or take-over note) a move keeps, on the pages and in the API alike: the
#: history is append-only and every notification of the move copies it
MAX_COMMENT_LENGTH = 4000


class CaseEvent(db.Model):
    """An immutable history row: every action on a case, in order."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case_at", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: None for the system (escalation scans)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(30))
    trigger: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    comment: Mapped[str | None] = mapped_column(Text)
    #: extra facts: score changes, department, extension dates, rung …
    data: Mapped[dict | None] = mapped_column(JSON)

    actor = relationship("User", lazy="select")


class SignOff(db.Model):
    """A department's signature at the joint provincial confirmation."""

    __tablename__ = "sign_offs"
    __table_args__ = (UniqueConstraint("case_id", "department"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: education or culture
    department: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user = relationship("User", lazy="joined")


class PartClaim(db.Model):
    """A reviewer's claim on one department's part of a joint stage.

    At a joint stage each department's part is its own piece of work: a claim holds only the
    claimant's department's part (the case's own ``claimed_by_id`` stays empty there), signing
    ends it, and leaving the stage ends them all.
    """

    __tablename__ = "part_claims"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    #: the department whose part is held (a name listed in the stage's ``joint``)
    part: Mapped[str] = mapped_column(String(20), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user = relationship("User", lazy="joined")


class StageVisit(db.Model):
    """One stay of a case in a reviewing stage (or a department's part of the joint one).

    Maintained by the core operation so that reports never rescan the history.
    """

    __tablename__ = "stage_visits"
    __table_args__ = (
        # a case's open visits: transitions close them, the escalation scan flags them (no
        # index on stage and entry alone: no query reads one, and every row version paid it)
        Index("ix_stage_visits_open", "case_id", "left_at"),
        # the reports (bottlenecks, weekly trend) read the visits overlapping a period: those
        # open now, and those that left since its start — each an index-only scan of these
        Index(
            "ix_stage_visits_open_report",
            "entered_at",
            postgresql_include=["left_at", *VISIT_REPORT_COLUMNS],
            postgresql_where=text("left_at IS NULL"),
            sqlite_where=text("left_at IS NULL"),
        ),
        Index(
            "ix_stage_visits_left_report",
            "left_at",
            postgresql_include=["entered_at", *VISIT_REPORT_COLUMNS],
            postgresql_where=text("left_at IS NOT NULL"),
            sqlite_where=text("left_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    #: the state name, or "provincial_confirmation:education" for a department's part
    stage: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(Integer)
    province_code: Mapped[str] = mapped_column(String(10))
    district_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    entered_at: Mapped[datetime] = mapped_column(DateTime)
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    left_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the trigger that ended the visit (approve, return_to_applicant, sign …)
    outcome: Mapped[str | None] = mapped_column(String(40))
    #: working days spent, counted when the visit ends
    working_days: Mapped[int | None] = mapped_column(Integer)
    is_late: Mapped[bool | None] = mapped_column(Boolean)
    is_escalated: Mapped[bool] = mapped_column(Boolean, default=False)


#: PostgreSQL refuses any UPDATE or DELETE of history rows, whoever connects
IMMUTABLE_HISTORY_SQL = append_only_sql("case_events")

event.listen(
    CaseEvent.__table__,
    "after_create",
    DDL(IMMUTABLE_HISTORY_SQL).execute_if(dialect="postgresql"),
)

#: free room left in each page of the tables whose rows the escalation scan flags: a flag
#: changes no indexed column, so with room on the page PostgreSQL writes the new row version
#: beside the old one (a heap-only update) instead of a new entry in every index of the table
SCAN_FLAGGED_FILLFACTOR = 90
SCAN_FLAGGED_TABLES = ("cases", "stage_visits")


def fillfactor_sql(table: str, fillfactor: int | None = SCAN_FLAGGED_FILLFACTOR) -> str:
    if fillfactor is None:
        return f"ALTER TABLE {table} RESET (fillfactor)"
    return f"ALTER TABLE {table} SET (fillfactor = {fillfactor})"


for _model in (Case, StageVisit):
    event.listen(
        _model.__table__,
        "after_create",
        DDL(fillfactor_sql(_model.__tablename__)).execute_if(dialect="postgresql"),
    )


class VillageMeeting(db.Model):
    """A village meeting (họp bình xét) of one round: who qualifies, by the village's vote."""

    __tablename__ = "village_meetings"
    __table_args__ = (UniqueConstraint("village_id", "round_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the village (a subject of kind community) that met
    village_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("rounds.id"))
    held_on: Mapped[date] = mapped_column(Date)
    chair: Mapped[str] = mapped_column(String(200))
    secretary: Mapped[str] = mapped_column(String(200))
    #: how many people attended the meeting
    attendance: Mapped[int] = mapped_column(Integer)
    #: the minutes (biên bản) as a scan or photo, an evidence attachment's path; None until attached
    minutes_path: Mapped[str | None] = mapped_column(String(500))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class VillageMeetingVote(db.Model):
    """One household's vote at a village meeting: votes for it, out of those present."""

    __tablename__ = "village_meeting_votes"
    __table_args__ = (UniqueConstraint("meeting_id", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("village_meetings.id"), index=True)
    #: the household voted on
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    votes_for: Mapped[int] = mapped_column(Integer)
    #: how many voted on it (present at the time of the vote)
    present: Mapped[int] = mapped_column(Integer)
