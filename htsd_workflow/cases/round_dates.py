"""Rounds: a title's registration window and review deadline for a year."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from htsd_workflow.cases.models import (
    Round,
)
from htsd_workflow.core.errors import (
    InvalidInput,
)
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import TITLE_OF_KIND


def ensure_round(title: str, year: int) -> Round:
    """Return the round of a title and year, creating the default one (the whole year)."""
    found = db.session.scalar(select(Round).where(Round.title == title, Round.year == year))
    if found is None:
        found = Round(
            title=title,
            year=year,
            registration_opens_on=date(year, 1, 1),
            registration_closes_on=date(year, 12, 31),
            review_deadline=date(year, 12, 15),
        )
        db.session.add(found)
        db.session.flush()
    return found


def set_round(
    title: str, year: int, opens_on: date, closes_on: date, review_deadline: date
) -> Round:
    """Create or change a round's registration window and review deadline."""
    if title not in TITLE_OF_KIND.values():
        raise InvalidInput(
            _l("Danh hiệu không hợp lệ: %(title)s", title=title), details={"title": title}
        )
    if closes_on < opens_on:
        raise InvalidInput(
            _l("Ngày kết thúc đăng ký phải sau ngày bắt đầu."),
            details={"registration_closes_on": _l("Phải sau ngày bắt đầu")},
        )
    found = ensure_round(title, year)
    found.registration_opens_on = opens_on
    found.registration_closes_on = closes_on
    found.review_deadline = review_deadline
    db.session.flush()
    return found
