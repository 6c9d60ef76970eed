"""The import pages: template, upload, row-by-row report, confirmation, progress; and the
printable one-time login slips for household heads."""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import exists, select

from htsd_workflow.auth.access import access
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import issue_login_slips
from htsd_workflow.auth.roles import IMPORT_JOB_OWNERS, IMPORTERS, SLIP_ISSUERS
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.core import transaction
from htsd_workflow.core.collation import collated
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import search_key, whole_number
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.imports.jobs import (
    cancel_import_job,
    confirm_import_job,
    create_import_job,
    import_job_for,
    start_check,
    start_run,
)
from htsd_workflow.imports.models import ImportJob
from htsd_workflow.imports.operations import get_spec, template_xlsx
from htsd_workflow.imports.specs import ASSESSMENT_SPEC, SPECS
from htsd_workflow.jobs.models import progress_of
from htsd_workflow.subjects.models import KINDS, Subject

bp = Blueprint("imports", __name__, url_prefix="/imports")

#: subjects listed (and slips printed) at most at once
SLIP_PAGE = 500


def _index(error: str | None = None, details: dict | None = None, status: int = 200):
    jobs = db.session.scalars(
        select(ImportJob)
        .where(ImportJob.user_id == current_user.id)
        .order_by(ImportJob.id.desc())
        .limit(10)
    ).all()
    return (
        render_template(
            "imports/index.html",
            specs=SPECS,
            jobs=jobs,
            error=error,
            details=details,
            max_mb=current_app.config["IMPORT_MAX_BYTES"] // (1024 * 1024),
            may_slip=current_user.role in SLIP_ISSUERS,
        ),
        status,
    )


@bp.route("")
@access(*IMPORTERS)
def index():
    """Choose what to import, download its template, upload the filled file."""
    return _index()


@bp.route("/<kind>/template")
@access(*IMPORTERS)
def template(kind: str):
    """The XLSX template with Vietnamese headers, an example row and instructions."""
    data = template_xlsx(kind)
    return send_file(
        io.BytesIO(data),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=f"mau-{kind}.xlsx",
    )


@bp.route("/<kind>", methods=["POST"])
@access(*IMPORTERS)
def upload(kind: str):
    """Keep the uploaded file and check it (now, or in the background when large)."""
    if kind not in SPECS:  # a village's assessments are uploaded on the village's page
        abort(404)
    upload = request.files.get("file")
    try:
        if upload is None:
            raise InvalidInput(
                _l("Chưa chọn tệp."),
                details={"file": _l("Chọn tệp .xlsx hoặc .csv rồi bấm Tải lên")},
            )
        with transaction.undone_on_refusal():
            job = create_import_job(current_user, kind, upload.stream, upload.filename)
    except InvalidInput as exc:
        return _index(exc.message, exc.details, 422)
    transaction.after_commit(start_check, job)
    return redirect(url_for("imports.job", job_id=job.id))


@bp.route("/jobs/<int:job_id>")
@access(*IMPORT_JOB_OWNERS)
def job(job_id: int):
    """Progress while busy; then the report (row, column, what is wrong) or the result."""
    job = import_job_for(current_user, job_id)
    return render_template(
        "imports/job.html",
        job=job,
        phase_label=_phase_label(job),
        spec=get_spec(job.kind),
        may_slip=current_user.role in SLIP_ISSUERS and job.kind == "households",
        back_url=url_for("rounds.villages")
        if job.kind == ASSESSMENT_SPEC.kind
        else url_for("imports.index"),
    )


def _phase_label(job: ImportJob) -> str:
    # the confirmed import checks each row again as it writes it, in one pass
    return _("Đang ghi dữ liệu") if job.status == "importing" else _("Đang kiểm tra")


@bp.route("/jobs/<int:job_id>/status")
@access(*IMPORT_JOB_OWNERS)
def job_status(job_id: int):
    """The progress bar's data."""
    job = import_job_for(current_user, job_id)
    return jsonify(progress_of(job, label=_phase_label(job), phase=job.phase))


@bp.route("/jobs/<int:job_id>/confirm", methods=["POST"])
@access(*IMPORT_JOB_OWNERS)
def confirm(job_id: int):
    """Import a cleanly checked file."""
    job = confirm_import_job(import_job_for(current_user, job_id), current_user)
    transaction.after_commit(start_run, job)
    return redirect(url_for("imports.job", job_id=job.id))


@bp.route("/jobs/<int:job_id>/cancel", methods=["POST"])
@access(*IMPORT_JOB_OWNERS)
def cancel(job_id: int):
    """Drop the uploaded file without importing it."""
    cancel_import_job(import_job_for(current_user, job_id), current_user)
    flash(_("Đã hủy; tệp đã được xóa khỏi máy chủ."), "info")
    return redirect(url_for("imports.index"))


#: the slips page's choice beside the subject kinds: the village heads' own accounts
VILLAGE_HEADS = "village_head"


def _slip_candidates(kind: str, without_account: bool, query: str) -> list:
    role = "village_head" if kind == VILLAGE_HEADS else "applicant"
    if kind == VILLAGE_HEADS:
        kind = "community"
    has_account = exists().where(User.subject_id == Subject.id, User.role == role)
    statement = (
        select(Subject, has_account.label("has_account"))
        .where(Subject.kind == kind, scope_clause(current_user, Subject, subject_column=Subject.id))
        .order_by(Subject.commune_code, collated(Subject.name), Subject.id)
        .limit(SLIP_PAGE + 1)
    )
    if without_account:
        statement = statement.where(~has_account)
    if query:
        statement = statement.where(
            (Subject.external_code == query) | Subject.name_search.contains(search_key(query))
        )
    return db.session.execute(statement).all()


@bp.route("/slips")
@access(*SLIP_ISSUERS)
def slips():
    """Choose the households (clans, communities, units) to print login slips for."""
    kind = request.args.get("kind", "family")
    if kind not in (*KINDS, VILLAGE_HEADS):
        kind = "family"
    without_account = request.args.get("all") != "1"
    query = (request.args.get("q") or "").strip()[:100]
    rows = _slip_candidates(kind, without_account, query)
    return render_template(
        "imports/slips.html",
        rows=rows[:SLIP_PAGE],
        more=len(rows) > SLIP_PAGE,
        kind=kind,
        kinds=(*KINDS, VILLAGE_HEADS),
        without_account=without_account,
        query=query,
        limit=SLIP_PAGE,
    )


@bp.route("/slips", methods=["POST"])
@access(*SLIP_ISSUERS)
def print_slips():
    """Create or reset the chosen accounts and show their one-time slips, once, to print."""
    typed = request.form.getlist("subject_id")
    ids = [n for v in typed if (n := whole_number(v, 1))]
    if len(ids) != len(typed):
        # "²" or "١٢" is no id (``int()`` reads the second as 12: another household's slip)
        raise InvalidInput(
            _l("Mã đối tượng không hợp lệ."),
            details={"subject_id": _l("Chọn hộ trong danh sách")},
        )
    if not ids:
        raise InvalidInput(
            _l("Chưa chọn hộ nào."), details={"subject_id": _l("Đánh dấu ít nhất một hộ")}
        )
    if len(ids) > SLIP_PAGE:
        raise InvalidInput(
            _l("Mỗi lần in tối đa %(count)s phiếu.", count=SLIP_PAGE),
            details={"subject_id": _l("Chọn ít hộ hơn rồi in nhiều lần")},
        )
    role = "village_head" if request.form.get("kind") == VILLAGE_HEADS else "applicant"
    issued = issue_login_slips(ids, current_user, role=role)
    codes = {s["commune_code"] for s in issued if s["commune_code"]}
    places = dict(
        db.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all()
    )
    # the passwords are in this response only: never stored in clear, never in a flash
    return render_template(
        "imports/slips_print.html",
        slips=issued,
        places=places,
        sign_in_url=current_app.config["BASE_URL"].rstrip("/") + url_for("auth.login"),
    )
