"""Time helpers: the database stores naive UTC; people see Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    """Return the current moment as naive UTC, the form stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(moment: datetime | None) -> datetime | None:
    """Convert a stored naive-UTC moment to local time."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(LOCAL_TZ)


def to_utc_naive(moment: datetime) -> datetime:
    """Convert an aware moment (or a naive local one) to naive UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC).replace(tzinfo=None)


def day_start(day: date) -> datetime:
    """The stored (naive UTC) moment at which a local day begins."""
    return to_utc_naive(datetime.combine(day, time(0), tzinfo=LOCAL_TZ))
