"""An uploaded spreadsheet on its way in: checked, confirmed, imported (inline or in the
background); its progress is what the progress bar shows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db

#: checking → checked (with its report) → importing → done; failed when a run stopped;
#: cancelled when the person dropped the file
IMPORT_STATES = ("checking", "checked", "importing", "done", "failed", "cancelled")


class ImportJob(db.Model):
    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: communities, households, clans or units (imports.specs.SPECS)
    kind: Mapped[str] = mapped_column(String(20))
    #: the name the file had on the person's computer (cleaned), for the page only
    filename: Mapped[str] = mapped_column(String(200))
    #: the random name it is kept under in the imports folder until it is imported or dropped
    stored_name: Mapped[str | None] = mapped_column(String(80))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    #: one of IMPORT_STATES
    status: Mapped[str] = mapped_column(String(10), default="checking")
    is_background: Mapped[bool] = mapped_column(Boolean, default=False)
    #: rows read so far in the current pass (checking, or checking again then writing)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    #: data rows in the file (known after the first check)
    rows_total: Mapped[int | None] = mapped_column(Integer)
    #: "checking" or "writing": what the progress bar is counting
    phase: Mapped[str | None] = mapped_column(String(10))
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    #: the first errors found: [{"row", "column", "message"}, ...]
    errors: Mapped[list | None] = mapped_column(JSON)
    #: why a run stopped (status "failed"), or why a file could not be read at all
    message: Mapped[str | None] = mapped_column(Text)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    #: last sign of life of the run (a redelivered task takes over only a silent one)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def is_busy(self) -> bool:
        return self.status in ("checking", "importing")

    @property
    def is_clean(self) -> bool:
        return self.status == "checked" and self.error_count == 0 and not self.message
