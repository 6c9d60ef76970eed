"""Administrative units (GSO codes): province, district, commune."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db

LEVELS = ("province", "district", "commune")


class Unit(db.Model):
    __tablename__ = "units"

    #: the official GSO code ("62" for Kon Tum, "608", "23281" …)
    code: Mapped[str] = mapped_column(String(10), primary_key=True)
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
