"""An uploaded spreadsheet on its way in: checked, confirmed, imported (inline or in the
background); its progress is what the progress bar shows."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from htsd_workflow.extensions import db
from htsd_workflow.jobs.models import JobMixin

#: checking → checked (with its report) → importing → done; failed when a run stopped;
#: cancelled when the person dropped the file
IMPORT_STATES = ("checking", "checked", "importing", "done", "failed", "cancelled")


class ImportJob(JobMixin, db.Model):
    """``status`` is one of IMPORT_STATES; ``done`` counts the rows read so far in the current
    pass (checking, or checking again then writing), ``total`` the data rows in the file
    (estimated for a large file, known after the first check)."""

    __tablename__ = "import_jobs"
    ACTIVE = ("checking", "importing")

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: communities, households, clans or units (imports.specs.SPECS)
    kind: Mapped[str] = mapped_column(String(20))
    #: the name the file had on the person's computer (cleaned), for the page only
    filename: Mapped[str] = mapped_column(String(200))
    #: the random name it is kept under in the imports folder until it is imported or dropped
    stored_name: Mapped[str | None] = mapped_column(String(80))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    is_background: Mapped[bool] = mapped_column(Boolean, default=False)
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

    @property
    def is_clean(self) -> bool:
        return self.status == "checked" and self.error_count == 0 and not self.message
