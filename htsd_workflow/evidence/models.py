"""Evidence files attached to criteria items of a case."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db


class Attachment(db.Model):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: the criteria item the file is evidence for
    item_code: Mapped[str] = mapped_column(String(20))
    #: the name shown and offered on download: the sender's name, cleaned, with the extension
    #: of the detected type
    filename: Mapped[str] = mapped_column(String(160))
    #: the random file name under UPLOAD_FOLDER/<case_id>/; nothing of the sender's name
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    #: detected from the content, never taken from the browser
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    uploaded_by = relationship("User", lazy="joined")
