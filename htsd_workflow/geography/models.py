"""Administrative units (GSO codes): province, district, commune."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db

LEVELS = ("province", "district", "commune")
#: the two structures of Vietnamese local government: with districts (until 30 June 2025) and
#: without (from 1 July 2025, communes directly under the province)
STRUCTURES = ("three_tier", "two_tier")
#: the suffix of a unit's key when its GSO code is already held by a unit of the other
#: structure (old 23293 "Thắng Lợi" and today's 23293 "Phường Kon Tum" are two units)
KEY_SUFFIX = {"two_tier": ".2025", "three_tier": ".cu"}


class Unit(db.Model):
    __tablename__ = "units"

    #: the unit's key: its GSO code, or (when a unit of the other structure holds that code)
    #: the code with ``KEY_SUFFIX`` — history keeps the key it was written with
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
    #: the official GSO code as the statistics office writes it ("01", "001", "00004", "23293")
    gso_code: Mapped[str | None] = mapped_column(String(10), index=True)
    #: the structure the unit belongs to: "three_tier" (districts) or "two_tier" (since 2025)
    structure: Mapped[str] = mapped_column(String(10), default="three_tier")
    #: first and last day the unit existed; None when not known / still in force
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    #: (provinces) the workflow set its new cases run: three_tier or two_tier; None = the
    #: installation's default (WORKFLOW_SET)
    workflow_set: Mapped[str | None] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    #: lower-case ASCII form of the name, for diacritic-free search
    name_search: Mapped[str] = mapped_column(String(200), index=True)
    #: "province", "district" or "commune"
    level: Mapped[str] = mapped_column(String(10))
    #: GSO division type as published: tỉnh, huyện, thành phố, xã, phường, thị trấn
    division_type: Mapped[str] = mapped_column(String(40), default="")
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    province_code: Mapped[str] = mapped_column(String(10), index=True)
    district_code: Mapped[str | None] = mapped_column(String(10), index=True)
    #: especially disadvantaged commune (xã ĐBKK); yearly lists live in DbkkPeriod
    is_dbkk: Mapped[bool] = mapped_column(Boolean, default=False)
    #: commune in an ethnic-minority area (vùng DTTS)
    is_ethnic_minority: Mapped[bool] = mapped_column(Boolean, default=False)

    def exists_on(self, day: date) -> bool:
        """Whether the unit existed on ``day``."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    @property
    def commune_code(self) -> str | None:
        """The unit's own code when it is a commune (so scope checks work on units too)."""
        return self.code if self.level == "commune" else None

    def path(self) -> tuple[str, str | None, str | None]:
        """Return (province, district, commune) codes for this unit."""
        return (
            self.province_code,
            self.district_code,
            self.code if self.level == "commune" else None,
        )


class DbkkPeriod(db.Model):
    """A span of years in which a commune is on the especially-disadvantaged list."""

    __tablename__ = "dbkk_periods"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    from_year: Mapped[int] = mapped_column(Integer)
    #: last year on the list; None while the list is in force
    to_year: Mapped[int | None] = mapped_column(Integer)


class UnitSuccession(db.Model):
    """An old unit's successor after a reorganisation (one row per old → new pair).

    A commune split between several new ones has several rows; ``share`` is the part that went
    to this successor when the decision says so, and ``is_default`` marks the one the official
    conversion table names when an address cannot say which.
    """

    __tablename__ = "unit_successions"
    __table_args__ = (UniqueConstraint("predecessor_code", "successor_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    predecessor_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    successor_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    #: the day the successor took over (the predecessor's last day is the day before)
    effective_on: Mapped[date] = mapped_column(Date)
    share: Mapped[float | None] = mapped_column(Float)
    is_default: Mapped[bool] = mapped_column(Boolean, default=True)
