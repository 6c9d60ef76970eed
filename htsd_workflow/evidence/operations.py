"""Adding and removing evidence files. Functions flush, never commit: the caller commits."""

from __future__ import annotations

import hashlib
import os
import secrets
from datetime import datetime
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ON_BEHALF_ENTRY_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.writing import record_event
from htsd_workflow.core.errors import InvalidInput, NotAllowed, NotFound
from htsd_workflow.core.time import utcnow
from htsd_workflow.evidence.files import clean_filename, detect_type, shrink_photo, stored_path
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.extensions import db

CHUNK = 64 * 1024


def may_edit_assessment(user: User, case: Case) -> bool:
    """Whether ``user`` may change the self-assessment now: the applicant, or a commune officer
    or the village head entering a household's paper form, while the case is with the
    applicant (draft, returned)."""
    if not in_scope(user, case):
        return False
    state = get_registry().definition_of(case).states[case.state]
    if state.kind != "applicant":
        return False
    if user.role == "applicant":
        return user.subject_id == case.subject_id
    return user.role in ON_BEHALF_ENTRY_ROLES and case.entry_level == "commune"


def _case_for_edit(case_id: int, user: User) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not in_scope(user, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    if not may_edit_assessment(user, case):
        raise NotAllowed(
            _l("Chỉ sửa được minh chứng khi hồ sơ đang soạn hoặc được trả lại bổ sung.")
        )
    return case


def _event(case: Case, user: User, trigger: str, data: dict, now: datetime) -> None:
    record_event(case, user, trigger, comment=None, now=now, data=data)


NEW_FILES_KEY = "htsd_new_files"


@event.listens_for(Session, "after_rollback")
def _remove_files_of_a_rolled_back_transaction(session) -> None:
    """Delete the files stored in what was rolled back: the whole transaction, or only a
    savepoint (``core.transaction.undone_on_refusal``), whose rollback keeps the files stored
    before it."""
    rolled_back = session.get_nested_transaction() if session.in_nested_transaction() else None
    kept = []
    for name, stored_in in session.info.pop(NEW_FILES_KEY, []):
        if rolled_back is None or stored_in is rolled_back:
            Path(name).unlink(missing_ok=True)
        else:
            kept.append((name, stored_in))
    if kept:
        session.info[NEW_FILES_KEY] = kept


@event.listens_for(Session, "after_commit")
def _keep_files_of_a_committed_transaction(session) -> None:
    session.info.pop(NEW_FILES_KEY, None)


def add_attachment(
    case_id: int, item_code: str, stream, filename: str | None, user: User, *, now=None
) -> Attachment:
    """Check an uploaded file by its content and size, keep it, and note it in the history.

    Raises InvalidInput naming the file and what is wrong with it.
    """
    now = now or utcnow()
    case = _case_for_edit(case_id, user)
    shown = filename or _l("tệp")
    cset = get_registry().criteria_set(case.criteria_set_id)
    if item_code not in {item.code for item in cset.items}:
        raise InvalidInput(
            _l("Không có tiêu chí mã “%(code)s”.", code=item_code),
            details={"item": _l("Chọn tiêu chí của bộ")},
        )
    limit = current_app.config["UPLOAD_MAX_FILES_PER_ITEM"]
    count = db.session.scalar(
        select(func.count())
        .select_from(Attachment)
        .where(Attachment.case_id == case.id, Attachment.item_code == item_code)
    )
    if count >= limit:
        raise InvalidInput(
            _l(
                "Tiêu chí %(code)s đã có %(limit)s tệp minh chứng, không thêm được “%(file)s”.",
                code=item_code,
                limit=limit,
                file=shown,
            ),
            details={f"files[{item_code}]": _l("Tối đa %(limit)s tệp mỗi tiêu chí", limit=limit)},
        )
    head = stream.read(16)
    detected = detect_type(head)
    if not head:
        raise InvalidInput(
            _l("Tệp “%(file)s” rỗng.", file=shown),
            details={f"files[{item_code}]": _l("Tệp “%(file)s” rỗng", file=shown)},
        )
    if detected is None:
        raise InvalidInput(
            _l("Tệp “%(file)s” không phải ảnh (JPG, PNG, WebP, HEIC) hoặc PDF.", file=shown),
            details={f"files[{item_code}]": _l("“%(file)s”: chỉ nhận ảnh hoặc PDF", file=shown)},
        )
    content_type, extension = detected
    max_bytes = current_app.config["UPLOAD_MAX_BYTES"]
    stored_name = f"{secrets.token_hex(16)}.{extension}"
    path = stored_path(case.id, stored_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(head)
    size = len(head)
    partial = path.with_suffix(".part")
    try:
        with open(partial, "wb") as out:
            out.write(head)
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(
                        _l(
                            "Tệp “%(file)s” lớn hơn %(mb)s MB.",
                            file=shown,
                            mb=max_bytes // (1024 * 1024),
                        ),
                        details={
                            f"files[{item_code}]": _l(
                                "“%(file)s”: tối đa %(mb)s MB",
                                file=shown,
                                mb=max_bytes // (1024 * 1024),
                            )
                        },
                    )
                digest.update(chunk)
                out.write(chunk)
        if shrink_photo(partial, content_type):
            # the kept file is the shrunk one: its own size and fingerprint
            size = partial.stat().st_size
            digest = hashlib.sha256(partial.read_bytes())
        os.replace(partial, path)
        # the file exists before its record is committed: if the transaction rolls back
        # (a failed save, the database gone), the file goes too
        db.session.info.setdefault(NEW_FILES_KEY, []).append(
            (str(path), db.session().get_nested_transaction())
        )
    finally:
        if partial.exists():
            partial.unlink()
    attachment = Attachment(
        case_id=case.id,
        item_code=item_code,
        filename=clean_filename(filename, extension),
        stored_name=stored_name,
        content_type=content_type,
        size=size,
        sha256=digest.hexdigest(),
        uploaded_by_id=user.id,
        uploaded_at=now,
    )
    db.session.add(attachment)
    db.session.flush()
    _event(
        case,
        user,
        "attach",
        {"item": item_code, "file": attachment.filename, "attachment_id": attachment.id},
        now,
    )
    db.session.flush()
    return attachment


def remove_attachment(attachment_id: int, case_id: int, user: User, *, now=None) -> Path:
    """Remove an evidence file from a case being edited; return the file to delete on commit."""
    now = now or utcnow()
    case = _case_for_edit(case_id, user)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.case_id != case.id:
        raise NotFound(_l("Không tìm thấy tệp minh chứng."))
    path = stored_path(case.id, attachment.stored_name)
    _event(
        case,
        user,
        "detach",
        {"item": attachment.item_code, "file": attachment.filename, "attachment_id": attachment.id},
        now,
    )
    db.session.delete(attachment)
    db.session.flush()
    return path


def attachments_by_item(case_id: int) -> dict[str, list[Attachment]]:
    """The case's evidence files grouped by criteria item, oldest first."""
    grouped: dict[str, list[Attachment]] = {}
    for attachment in db.session.scalars(
        select(Attachment).where(Attachment.case_id == case_id).order_by(Attachment.id)
    ):
        grouped.setdefault(attachment.item_code, []).append(attachment)
    return grouped


#: where a village meeting's minutes are kept, under the evidence folder
MINUTES_FOLDER = "meetings"


def keep_minutes(stream, filename: str | None) -> str:
    """Keep a village meeting's minutes (biên bản: a scan or a photo), checked by content and
    size like an evidence file; return the path it is kept under (relative to the evidence
    folder). The file goes again if the transaction that records the meeting rolls back."""
    shown = filename or _l("tệp")
    head = stream.read(16)
    detected = detect_type(head) if head else None
    if detected is None:
        raise InvalidInput(
            _l("Biên bản “%(file)s” phải là ảnh (JPG, PNG, WebP, HEIC) hoặc PDF.", file=shown),
            details={"minutes": _l("Chụp hoặc quét biên bản rồi tải lên")},
        )
    content_type, extension = detected
    max_bytes = current_app.config["UPLOAD_MAX_BYTES"]
    relative = f"{MINUTES_FOLDER}/{secrets.token_hex(16)}.{extension}"
    path = minutes_file(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    size = len(head)
    try:
        with open(partial, "wb") as out:
            out.write(head)
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(
                        _l("Tệp “%(file)s” lớn hơn %(mb)s MB.", file=shown, mb=max_bytes >> 20),
                        details={"minutes": _l("Tối đa %(mb)s MB", mb=max_bytes >> 20)},
                    )
                out.write(chunk)
        shrink_photo(partial, content_type)
        os.replace(partial, path)
        db.session.info.setdefault(NEW_FILES_KEY, []).append(
            (str(path), db.session().get_nested_transaction())
        )
    finally:
        if partial.exists():
            partial.unlink()
    return relative


def minutes_file(relative: str) -> Path:
    """The kept minutes of a meeting (``VillageMeeting.minutes_path``)."""
    name = Path(relative).name
    return Path(current_app.config["UPLOAD_FOLDER"]) / MINUTES_FOLDER / name
