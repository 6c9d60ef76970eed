"""Decisions, the cases each lists, and the certificate print jobs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.jobs.models import JobMixin

DECISION_STATUSES = ("draft", "issued")
CERTIFICATE_JOB_STATES = ("queued", "running", "done", "failed")


class Decision(db.Model):
    """A recognition decision of one title and year for one territory: a draft the issuing
    level's officer prepares, then issued (numbered, dated, signed) and never changed."""

    __tablename__ = "decisions"
    __table_args__ = (
        # one number per issuing body and year (a draft has none yet)
        UniqueConstraint("unit_code", "year", "number", name="uq_decisions_unit_year_number"),
        Index("ix_decisions_territory", "province_code", "district_code", "commune_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(12))
    year: Mapped[int] = mapped_column(Integer)
    #: the issuing level (the workflow file's decision block) and its territory
    level: Mapped[str] = mapped_column(String(10))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    province_code: Mapped[str] = mapped_column(String(10))
    district_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    #: one of DECISION_STATUSES
    status: Mapped[str] = mapped_column(String(10), default="draft")
    #: what the decision says, fixed from the workflow file when it is drafted
    body_name: Mapped[str] = mapped_column(String(300))
    signer_title: Mapped[str] = mapped_column(String(200))
    bases: Mapped[str] = mapped_column(Text)
    valid_months: Mapped[int] = mapped_column(Integer)
    #: filled when issued
    number: Mapped[str | None] = mapped_column(String(60))
    issued_on: Mapped[date | None] = mapped_column(Date)
    signer_name: Mapped[str | None] = mapped_column(String(200))
    issued_at: Mapped[datetime | None] = mapped_column(DateTime)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: the issued decision's PDF (signed when a key is configured), kept as issued
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    is_signed: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    entries = relationship(
        "DecisionEntry",
        lazy="select",
        order_by="DecisionEntry.position",
        viewonly=True,
    )

    @property
    def is_issued(self) -> bool:
        return self.status == "issued"

    @property
    def bases_list(self) -> list[str]:
        return [line for line in self.bases.split("\n") if line.strip()]


class DecisionEntry(db.Model):
    """One recognised case listed in a decision, with what its certificate prints."""

    __tablename__ = "decision_entries"
    __table_args__ = (
        # a case is in one decision at most
        UniqueConstraint("case_id", name="uq_decision_entries_case"),
        Index("ix_decision_entries_decision", "decision_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    position: Mapped[int] = mapped_column(Integer)
    #: the certificate's verification code: random, unguessable, not derived from any id
    code: Mapped[str] = mapped_column(String(32), unique=True)
    #: as printed: the name, village and commune when the decision was drafted
    name: Mapped[str] = mapped_column(String(300))
    village: Mapped[str | None] = mapped_column(String(300))
    commune: Mapped[str | None] = mapped_column(String(300))

    decision = relationship("Decision", lazy="joined", viewonly=True)


class CertificateJob(JobMixin, db.Model):
    """Printing all certificates of a decision (the part in one user's territory) in the
    background; ``total`` and ``done`` count certificates, for the progress bar."""

    __tablename__ = "certificate_jobs"
    ACTIVE = ("queued", "running")

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: why a run stopped (status "failed")
    error: Mapped[str | None] = mapped_column(Text)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
