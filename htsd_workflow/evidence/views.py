"""Downloading and removing evidence files."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from htsd_workflow.auth.access import access
from htsd_workflow.auth.roles import ASSESSMENT_EDITORS
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.models import Case
from htsd_workflow.core import transaction
from htsd_workflow.evidence.files import stored_path
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.evidence.operations import remove_attachment
from htsd_workflow.extensions import db

bp = Blueprint("evidence", __name__)


def _file_in_scope(case_id: int, attachment_id: int):
    """The attachment and its stored file, for someone who may see the case; else 404."""
    case = db.session.get(Case, case_id)
    attachment = db.session.get(Attachment, attachment_id)
    if (
        case is None
        or attachment is None
        or attachment.case_id != case.id
        or not in_scope(current_user, case)
    ):
        abort(404)
    path = stored_path(case.id, attachment.stored_name)
    if not path.is_file():
        abort(404)
    return attachment, path


#: what may be shown in the page (photos the browser draws, PDFs its viewer opens)
VIEWABLE = {"image/jpeg", "image/png", "image/webp", "application/pdf"}


@bp.route("/cases/<int:case_id>/files/<int:attachment_id>/view")
@access()
def view(case_id: int, attachment_id: int):
    """Show a photo or PDF in the browser (thumbnails and the viewer on the case page): its
    checked content type, never sniffed, nothing it holds may run (a PDF gets no sandbox only
    because the browser's PDF viewer refuses to open in one)."""
    attachment, path = _file_in_scope(case_id, attachment_id)
    if attachment.content_type not in VIEWABLE:
        abort(404)
    response = send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=False,
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    policy = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    if attachment.content_type != "application/pdf":
        policy += "; sandbox"
    response.headers["Content-Security-Policy"] = policy
    return response


@bp.route("/cases/<int:case_id>/files/<int:attachment_id>")
@access()
def download(case_id: int, attachment_id: int):
    """Send an evidence file to someone who may see the case, always as a download."""
    attachment, path = _file_in_scope(case_id, attachment_id)
    response = send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@bp.route("/cases/<int:case_id>/files/<int:attachment_id>/delete", methods=["POST"])
@access(*ASSESSMENT_EDITORS)
def delete(case_id: int, attachment_id: int):
    """Remove an evidence file while the self-assessment is being edited."""
    path = remove_attachment(attachment_id, case_id, current_user)
    transaction.after_commit(path.unlink, missing_ok=True)
    flash(_("Đã gỡ tệp minh chứng."), "success")
    return redirect(url_for("cases.assessment", case_id=case_id))
