"""Decision pages, the PDFs, and the public certificate check (/verify)."""

from __future__ import annotations

import functools
from datetime import date

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import func, select

from htsd_workflow.auth.access import access
from htsd_workflow.auth.issuers import (
    DRAFTER_ROLES,
    ISSUER_ROLES,
    acts_for_issuing_level,
    is_leader_of,
)
from htsd_workflow.auth.roles import STAFF_ROLES
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.planning import score_results
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import whole_number
from htsd_workflow.core.titles import TITLES
from htsd_workflow.decisions import pdf as pdfs
from htsd_workflow.decisions.files import _pdf, certificate_response, decision_pdf_response
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import (
    decision_path,
    draft_decision,
    issue_decision,
    normalise_code,
    remove_from_draft,
    visible_decision,
)
from htsd_workflow.decisions.queries import decision_summary, today, verification
from htsd_workflow.decisions.signing import signing_configured
from htsd_workflow.extensions import db, limiter
from htsd_workflow.geography.models import Unit

bp = Blueprint("decisions", __name__)

DRAFTERS = tuple(r for roles in DRAFTER_ROLES.values() for r in roles) + ISSUER_ROLES


@bp.app_context_processor
def _decision_helpers() -> dict:
    from htsd_workflow.decisions.queries import entry_of_case

    return {"decision_entry_of": entry_of_case}


# --- staff pages ----------------------------------------------------------------------------


@bp.route("/decisions")
@access(*STAFF_ROLES)
def index():
    counts = (
        select(DecisionEntry.decision_id, func.count().label("n"))
        .group_by(DecisionEntry.decision_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Decision, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.decision_id == Decision.id)
        .where(scope_clause(current_user, Decision))
        .order_by(Decision.id.desc())
        .limit(500)
    ).all()
    return render_template(
        "decisions/index.html",
        decisions=[decision_summary(d, count=n) for d, n in rows],
        may_draft=current_user.role in DRAFTERS,
        this_year=today().year,
    )


@bp.route("/decisions/new", methods=["POST"])
@access(*DRAFTERS)
def new():
    year = whole_number(request.form.get("year"), 2000, 2100)
    if year is None:
        raise InvalidInput(_l("Năm không hợp lệ."), details={"year": _l("Nhập năm, ví dụ 2026.")})
    decision = draft_decision(
        request.form.get("title", ""),
        year,
        (request.form.get("unit") or current_user.unit_code or "").strip(),
        current_user,
    )
    flash(_("Đã lập dự thảo quyết định."), "success")
    return redirect(url_for("decisions.show", decision_id=decision.id))


@bp.route("/decisions/<int:decision_id>")
@access(*STAFF_ROLES)
def show(decision_id):
    decision = visible_decision(decision_id, current_user)
    path = decision_path(decision)
    entries = decision.entries
    return render_template(
        "decisions/show.html",
        decision=decision,
        summary=decision_summary(decision),
        entries=entries,
        levels=_levels_reached([e.case_id for e in entries]),
        may_edit=not decision.is_issued
        and acts_for_issuing_level(current_user, decision.level, path),
        may_issue=not decision.is_issued and is_leader_of(current_user, decision.level, path),
        signing=signing_configured(),
    )


def _levels_reached(case_ids) -> dict[int, str]:
    """The level reached (its label, "–" for none) of each listed case of a levels-kind set
    (TT 24/2023, TT 25/2023); empty when the list has none."""
    if not case_ids:
        return {}
    registry = get_registry()
    rows = [
        row
        for row in db.session.execute(
            select(Case.id, Case.criteria_set_id).where(Case.id.in_(case_ids))
        )
        if registry.criteria_set(row.criteria_set_id).kind == "levels"
    ]
    return {
        case_id: result.level.label if result.level else "–"
        for case_id, result in score_results(rows).items()
    }


@bp.route("/decisions/<int:decision_id>/remove", methods=["POST"])
@access(*DRAFTERS)
def remove(decision_id):
    ids = [whole_number(v, 1) for v in request.form.getlist("case_id")]
    remove_from_draft(decision_id, [i for i in ids if i is not None], current_user)
    flash(_("Đã bỏ hồ sơ khỏi dự thảo."), "success")
    return redirect(url_for("decisions.show", decision_id=decision_id))


@bp.route("/decisions/<int:decision_id>/issue", methods=["POST"])
@access(*ISSUER_ROLES)
def issue(decision_id):
    try:
        issued_on = date.fromisoformat(request.form.get("date", ""))
    except ValueError:
        raise InvalidInput(
            _l("Ngày ký không hợp lệ."),
            details={"date": _l("Nhập ngày theo dạng năm-tháng-ngày.")},
        ) from None
    issue_decision(
        decision_id,
        request.form.get("number", ""),
        issued_on,
        request.form.get("signer_name", ""),
        current_user,
    )
    flash(_("Đã ban hành quyết định."), "success")
    return redirect(url_for("decisions.show", decision_id=decision_id))


@bp.route("/decisions/<int:decision_id>/pdf")
@access(*STAFF_ROLES)
def decision_file(decision_id):
    return decision_pdf_response(visible_decision(decision_id, current_user))


@bp.route("/decisions/<int:decision_id>/certificates.pdf")
@access(*STAFF_ROLES)
def certificates_file(decision_id):
    """All certificates of an issued decision (or of one commune in it), one per page: at
    once for a few, built by the worker with a progress bar for more."""
    from htsd_workflow.decisions.jobs import CERTIFICATES, create_certificate_job, entries_for
    from htsd_workflow.jobs.runner import dispatch

    decision = visible_decision(decision_id, current_user)
    if not decision.is_issued:
        raise InvalidInput(_l("Quyết định chưa ban hành: chưa có giấy công nhận."))
    entries = entries_for(decision, current_user)
    if len(entries) <= current_app.config.get("CERTIFICATES_INLINE_MAX", 40):
        body = pdfs.certificates_pdf(decision, entries)
        return _pdf(body, f"giay-cong-nhan-qd-{decision.id}.pdf")
    job = create_certificate_job(decision, current_user, len(entries))
    transaction.after_commit(dispatch, CERTIFICATES, job.id)
    return redirect(url_for("decisions.certificate_job", job_id=job.id))


def _own_certificate_job(job_id: int):
    from htsd_workflow.decisions.models import CertificateJob
    from htsd_workflow.jobs.models import own_job

    return own_job(CertificateJob, job_id, current_user)


@bp.route("/decisions/certificate-jobs/<int:job_id>")
@access(*STAFF_ROLES)
def certificate_job(job_id):
    job = _own_certificate_job(job_id)
    return render_template("decisions/certificate_job.html", job=job)


@bp.route("/decisions/certificate-jobs/<int:job_id>/status")
@access(*STAFF_ROLES)
def certificate_job_status(job_id):
    from flask import jsonify

    from htsd_workflow.jobs.models import progress_of

    return jsonify(progress_of(_own_certificate_job(job_id)))


@bp.route("/decisions/certificate-jobs/<int:job_id>/file")
@access(*STAFF_ROLES)
def certificate_job_file(job_id):
    job = _own_certificate_job(job_id)
    if job.status != "done":
        from flask import abort

        abort(404)
    return _pdf(job.pdf, f"giay-cong-nhan-qd-{job.decision_id}.pdf")


@bp.route("/cases/<int:case_id>/certificate.pdf")
@access()
def case_certificate(case_id):
    from htsd_workflow.cases.permissions import _load_case_for
    from htsd_workflow.decisions.queries import entry_of_case

    _load_case_for(case_id, current_user)
    entry = entry_of_case(case_id)
    if entry is None:
        from htsd_workflow.core.errors import NotFound

        raise NotFound(_l("Hồ sơ chưa có giấy công nhận."))
    return certificate_response(entry)


# --- public check -------------------------------------------------------------------------


def _verify_limit():
    return current_app.config["VERIFY_RATE_LIMIT"]


def _verify_limited(view):
    """The public pages' limit per address (``VERIFY_RATE_LIMIT``), one allowance with the
    API's ``/verify/{code}``. A page it lets through carries no ``X-RateLimit-*`` headers: a
    person reads the page, and reading the window back for them cost two more Redis round
    trips per check, a quarter of the limiter's cost on the app's busiest page. A refusal
    (429) still carries them, with ``Retry-After``; the API's answers keep them all."""
    limited = limiter.shared_limit(_verify_limit, scope="verify")(view)

    @functools.wraps(view)
    def answered(*args, **kwargs):
        response = limited(*args, **kwargs)
        # the limit the headers would describe (Flask-Limiter 3's request context)
        limiter.context.view_rate_limit = None
        return response

    return answered


#: the public check's rendered content, by (language, mount point, what it shows): a
#: verification's facts (its status included) are the key, so a revocation or an expiry shows at
#: once. Bounded: it is emptied when full (the codes of one province's certificates fit many
#: times over).
_VERIFY_CONTENT: dict[tuple, Markup] = {}
VERIFY_CONTENT_MAX = 4096
#: the page around that content for a visitor who is not signed in, by (language, mount point):
#: its head and its tail, the same for every certificate (the page keeps no session: no token,
#: no menu)
_VERIFY_FRAME: dict[tuple, tuple[str, str]] = {}
_CONTENT_SLOT = "<!--htsd:verify-content-->"


def _verify_page(result: dict | None, *, asked: bool, status: int = 200):
    """The verification page: its content made once per (language, facts), the page around
    it once per language; a signed-in visitor (whose menu it shows) or one with messages
    waiting gets the page made for them."""
    place = (str(get_locale()), request.script_root)
    key = (*place, asked, tuple(result.items()) if result else None)
    content = _VERIFY_CONTENT.get(key)
    if content is None:
        if len(_VERIFY_CONTENT) >= VERIFY_CONTENT_MAX:
            _VERIFY_CONTENT.clear()
        content = _VERIFY_CONTENT[key] = Markup(
            render_template("decisions/_verify_content.html", result=result, asked=asked)
        )
    if current_user.is_authenticated or session.get("_flashes"):
        return render_template("decisions/verify.html", content=content), status
    frame = _VERIFY_FRAME.get(place)
    if frame is None:
        page = render_template("decisions/verify.html", content=Markup(_CONTENT_SLOT))
        head, _slot, tail = page.partition(_CONTENT_SLOT)
        frame = _VERIFY_FRAME[place] = (head, tail)
    return "".join((frame[0], content, frame[1])), status  # no Markup.__radd__ escaping


def _chosen_language() -> str | None:
    """The language the public check was opened in with ``?lang=`` (None if none)."""
    chosen = request.args.get("lang")
    return chosen if chosen in current_app.config["LANGUAGES"] else None


@bp.route("/verify", methods=["GET", "POST"])
@access(public=True)
@_verify_limited
def verify_form():
    typed = request.values.get("code", "")
    if typed:
        code = normalise_code(typed)
        if code is not None:
            return redirect(url_for("decisions.verify", code=code, lang=_chosen_language()))
        return _verify_page(None, asked=True, status=404)
    return _verify_page(None, asked=False)


@bp.route("/verify/<string(maxlength=40):code>")
@access(public=True)
@_verify_limited
def verify(code):
    result = verification(code)
    response = current_app.make_response(
        _verify_page(result, asked=True, status=200 if result is not None else 404)
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# --- lists of those recognised --------------------------------------------------------------

LIST_COLUMNS = [
    ("position", "STT"),
    ("name", "Tên"),
    ("village", "Thôn, làng, tổ dân phố"),
    ("commune", "Xã, phường"),
    ("title_label", "Danh hiệu"),
    ("year", "Năm"),
    ("decision_number", "Số quyết định"),
    ("decision_day", "Ngày quyết định"),
    ("status_label", "Tình trạng"),
]
STATUS_LABELS = {"valid": "Còn hiệu lực", "expired": "Đã hết hạn", "revoked": "Đã thu hồi"}


def _list_rows(rows: list[dict]) -> list[dict]:
    from htsd_workflow.core.labels import TITLE_LABELS

    return [
        {
            **row,
            "position": position,
            "title_label": str(TITLE_LABELS.get(row["title"], row["title"])),
            "decision_day": row["decision_date"].strftime("%d/%m/%Y"),
            "status_label": STATUS_LABELS[row["status"]],
        }
        for position, row in enumerate(rows, 1)
    ]


@bp.route("/decisions/lists")
@access(*STAFF_ROLES)
def lists():
    """Those recognised in the user's territory (or a unit inside it) and a year: a page,
    CSV, XLSX or PDF; ``valid=1`` lists the titles valid in the year instead."""
    from htsd_workflow.auth.scope import in_scope
    from htsd_workflow.cases.models import Case
    from htsd_workflow.core.errors import NotFound
    from htsd_workflow.decisions.lists import recognitions, yearly_counts
    from htsd_workflow.decisions.queries import today
    from htsd_workflow.reports.exports import to_csv, to_xlsx

    year = whole_number(request.args.get("year"), 2000, 2100) or today().year
    title = request.args.get("title") or None
    if title not in (None, *TITLES):
        title = None
    code = (request.args.get("unit") or "").strip() or current_user.unit_code
    unit = db.session.get(Unit, code) if code else None
    if unit is None or not in_scope(current_user, unit):
        raise NotFound(_l("Không tìm thấy đơn vị hành chính trong phạm vi của bạn."))
    valid_in = request.args.get("valid") == "1"
    scope = scope_clause(current_user, Case)
    rows = _list_rows(recognitions(scope, year, title=title, unit=unit, valid_in=valid_in))
    counts = yearly_counts(scope, year, title=title, unit=unit)
    name = f"danh-sach-cong-nhan-{unit.code}-{year}"
    fmt = request.args.get("format")
    if fmt == "csv":
        return Response(
            to_csv(LIST_COLUMNS, rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if fmt == "xlsx":
        return Response(
            to_xlsx(LIST_COLUMNS, rows, title=f"Công nhận {year}"),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    context = {
        "rows": rows,
        "counts": counts,
        "year": year,
        "title": title,
        "unit": unit,
        "valid_in": valid_in,
    }
    if fmt == "pdf":
        html = render_template("decisions/list_pdf.html", **context)
        return _pdf(pdfs.write_pdf(html), f"{name}.pdf")
    return render_template("decisions/lists.html", **context)


@bp.route("/recognitions/<string(maxlength=10):commune_code>/<int:year>")
@access(public=True)
@_verify_limited
def public_list(commune_code, year):
    """With PUBLIC_LISTS=1: a commune's recognitions of a year (names, village, title) made
    public, as the circulars require; otherwise no such page."""
    from sqlalchemy import true

    from htsd_workflow.core.errors import NotFound
    from htsd_workflow.decisions.lists import recognitions

    unit = db.session.get(Unit, commune_code)
    if not current_app.config.get("PUBLIC_LISTS") or unit is None or unit.level != "commune":
        raise NotFound(_l("Không tìm thấy trang."))
    rows = [r for r in recognitions(true(), year, unit=unit) if r["status"] != "revoked"]
    return render_template("decisions/public_list.html", rows=rows, unit=unit, year=year)
