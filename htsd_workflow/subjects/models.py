"""Subjects of an application: households, clans, communities and units."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from htsd_workflow.core.time import utcnow
from htsd_workflow.core.titles import KINDS, TITLE_OF_KIND  # noqa: F401 (their old address)
from htsd_workflow.extensions import db

UNIT_TYPES = ("agency", "organisation", "school", "enterprise")


class Subject(db.Model):
    __tablename__ = "subjects"
    __table_args__ = (
        # the commune as an applicant ("Cộng đồng học tập cấp xã"): one subject per commune
        Index(
            "uq_subjects_one_commune",
            "unit_code",
            unique=True,
            postgresql_where=text("kind = 'commune'"),
            sqlite_where=text("kind = 'commune'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: family (household), clan, community (thôn/làng/tổ dân phố), commune (the commune
    #: itself, for "Cộng đồng học tập cấp xã") or unit
    kind: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(300))
    name_search: Mapped[str] = mapped_column(String(300), index=True)
    #: the GSO code of the unit that manages the subject (a commune, district or province)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    #: level of the managing unit: where the subject's cases enter the workflow
    managing_level: Mapped[str] = mapped_column(String(10))
    province_code: Mapped[str] = mapped_column(String(10))
    district_code: Mapped[str | None] = mapped_column(String(10))
    commune_code: Mapped[str | None] = mapped_column(String(10))
    #: a household's community (thôn/làng), itself a subject of kind community
    community_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id"))
    #: head of household, clan or village, or the unit's leader
    head_name: Mapped[str | None] = mapped_column(String(200))
    #: household code or other external key used by imports (idempotent)
    external_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    #: for units: agency, organisation, school or enterprise
    unit_type: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    community = relationship("Subject", remote_side=[id], lazy="select")


class ClanMember(db.Model):
    """A household that belongs to a clan; it may live in another commune than the clan."""

    __tablename__ = "clan_members"
    __table_args__ = (UniqueConstraint("clan_id", "household_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clan_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), index=True)
