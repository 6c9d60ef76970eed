"""Denominators: how many households, clans, communities and units an area has in a year."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db


class Denominator(db.Model):
    __tablename__ = "denominators"
    __table_args__ = (UniqueConstraint("unit_code", "year", "title"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the commune the count is for
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    year: Mapped[int] = mapped_column(Integer)
    #: family, clan, community or unit
    title: Mapped[str] = mapped_column(String(12))
    count: Mapped[int] = mapped_column(Integer)
