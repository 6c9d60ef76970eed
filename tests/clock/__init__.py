"""The tests' clock: every test runs at a fixed moment, never at the real one.

``TEST_NOW`` (default: Monday 7 December 2026, 10:30 in Viet Nam) is where the clock stands when
a test starts; it then ticks on. ``HTSD_TEST_NOW`` chooses another moment for a whole run (an
ISO moment with its offset), so the suite can be run at the dates that matter:

    HTSD_TEST_NOW=2027-02-05T18:30:00+07:00 make test     # the eve of Tết, after 17:00

``MOMENTS`` are those dates; the date rules' tests run at each of them. Processes the tests start
(gunicorn, the Celery worker) get the same moment through ``child_env`` and this folder's
``sitecustomize``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

FOLDER = Path(__file__).resolve().parent

#: where a test that states dates of its own runs (``@pytest.mark.pinned_clock``), whatever
#: ``HTSD_TEST_NOW`` says: its expectations ("28/12/2026", "the 2026 round") are about this day
DEFAULT_NOW = datetime.fromisoformat("2026-12-07T10:30:00+07:00")
TEST_NOW = (
    datetime.fromisoformat(os.environ["HTSD_TEST_NOW"])
    if "HTSD_TEST_NOW" in os.environ
    else DEFAULT_NOW
)

#: the moments at which a date rule must hold (local time, Asia/Ho_Chi_Minh)
MOMENTS = {
    "weekday-morning": datetime.fromisoformat("2026-12-07T09:15:00+07:00"),  # Monday
    "weekday-after-17h": datetime.fromisoformat("2026-12-09T17:45:00+07:00"),  # Wednesday
    "saturday": datetime.fromisoformat("2026-12-12T10:00:00+07:00"),
    "31-december": datetime.fromisoformat("2026-12-31T16:00:00+07:00"),  # Thursday
    "tet-eve": datetime.fromisoformat("2027-02-05T11:00:00+07:00"),  # 29 Tết: a holiday
    "make-up-working-day": datetime.fromisoformat("2026-08-22T08:30:00+07:00"),  # Saturday, làm bù
}


def child_env() -> dict[str, str]:
    """Environment that puts a child Python process on the tests' clock, where it stands now."""
    return {"HTSD_TEST_NOW": datetime.now(UTC).isoformat(), "HTSD_TEST_CLOCK": "1"}


def child_pythonpath(root: Path) -> str:
    """PYTHONPATH for a child process: the project, and this folder for its sitecustomize."""
    return os.pathsep.join([str(root), str(FOLDER / "child")])
