"""Decision pages, the PDFs, and the public certificate check (/verify)."""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from htsd_workflow.auth.access import access
from htsd_workflow.auth.scope import scope_clause
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.text import whole_number
from htsd_workflow.decisions import pdf as pdfs
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import (
    DRAFTER_ROLES,
    ISSUER_ROLES,
    draft_decision,
    issue_decision,
    normalise_code,
    remove_from_draft,
    store_pdf,
    visible_decision,
)
from htsd_workflow.decisions.queries import decision_summary, verification
from htsd_workflow.decisions.signing import sign_pdf, signing_configured
from htsd_workflow.extensions import db, limiter

bp = Blueprint("decisions", __name__)

STAFF = (
    "commune_reviewer",
    "district_reviewer",
    "education_reviewer",
    "culture_reviewer",
    "province_officer",
    "manager",
    "admin",
)
DRAFTERS = tuple(r for roles in DRAFTER_ROLES.values() for r in roles) + ISSUER_ROLES


def _pdf(body: bytes, filename: str) -> Response:
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def decision_pdf_bytes(decision: Decision) -> bytes:
    """An issued decision's PDF as first made and kept (signed when a key is configured);
    a draft's is made afresh, marked DỰ THẢO, never signed."""
    if not decision.is_issued:
        return pdfs.decision_pdf(decision)
    if decision.pdf is not None:
        return decision.pdf
    body, signed = sign_pdf(pdfs.decision_pdf(decision))
    return store_pdf(decision, body, signed=signed)


def decision_pdf_response(decision: Decision) -> Response:
    return _pdf(decision_pdf_bytes(decision), f"quyet-dinh-{decision.id}.pdf")


def certificate_response(entry: DecisionEntry) -> Response:
    body = pdfs.certificates_pdf(entry.decision, [entry])
    return _pdf(body, f"giay-cong-nhan-{entry.case_id}.pdf")


@bp.app_context_processor
def _decision_helpers() -> dict:
    from htsd_workflow.decisions.queries import entry_of_case

    return {"decision_entry_of": entry_of_case}


# --- staff pages ----------------------------------------------------------------------------


@bp.route("/decisions")
@access(*STAFF)
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
        this_year=date.today().year,
    )


@bp.route("/decisions/new", methods=["POST"])
@access(*DRAFTERS)
def new():
    year = whole_number(request.form.get("year"), 2000, 2100)
    if year is None:
        raise InvalidInput(_("Năm không hợp lệ."), details={"year": _("Nhập năm, ví dụ 2026.")})
    decision = draft_decision(
        request.form.get("title", ""),
        year,
        (request.form.get("unit") or current_user.unit_code or "").strip(),
        current_user,
    )
    db.session.commit()
    flash(_("Đã lập dự thảo quyết định."), "success")
    return redirect(url_for("decisions.show", decision_id=decision.id))


@bp.route("/decisions/<int:decision_id>")
@access(*STAFF)
def show(decision_id):
    decision = visible_decision(decision_id, current_user)
    return render_template(
        "decisions/show.html",
        decision=decision,
        summary=decision_summary(decision),
        entries=decision.entries,
        may_edit=not decision.is_issued and current_user.role in DRAFTERS,
        may_issue=not decision.is_issued and current_user.role in ISSUER_ROLES,
        signing=signing_configured(),
    )


@bp.route("/decisions/<int:decision_id>/remove", methods=["POST"])
@access(*DRAFTERS)
def remove(decision_id):
    ids = [whole_number(v, 1) for v in request.form.getlist("case_id")]
    remove_from_draft(decision_id, [i for i in ids if i is not None], current_user)
    db.session.commit()
    flash(_("Đã bỏ hồ sơ khỏi dự thảo."), "success")
    return redirect(url_for("decisions.show", decision_id=decision_id))


@bp.route("/decisions/<int:decision_id>/issue", methods=["POST"])
@access(*ISSUER_ROLES)
def issue(decision_id):
    try:
        issued_on = date.fromisoformat(request.form.get("date", ""))
    except ValueError:
        raise InvalidInput(
            _("Ngày ký không hợp lệ."), details={"date": _("Nhập ngày theo dạng năm-tháng-ngày.")}
        ) from None
    issue_decision(
        decision_id,
        request.form.get("number", ""),
        issued_on,
        request.form.get("signer_name", ""),
        current_user,
    )
    db.session.commit()
    flash(_("Đã ban hành quyết định."), "success")
    return redirect(url_for("decisions.show", decision_id=decision_id))


@bp.route("/decisions/<int:decision_id>/pdf")
@access(*STAFF)
def decision_file(decision_id):
    response = decision_pdf_response(visible_decision(decision_id, current_user))
    db.session.commit()
    return response


@bp.route("/decisions/<int:decision_id>/certificates.pdf")
@access(*STAFF)
def certificates_file(decision_id):
    """All certificates of an issued decision (or of one commune in it), one per page."""
    decision = visible_decision(decision_id, current_user)
    if not decision.is_issued:
        raise InvalidInput(_("Quyết định chưa ban hành: chưa có giấy công nhận."))
    entries = _entries_in_scope(decision)
    return _pdf(pdfs.certificates_pdf(decision, entries), f"giay-cong-nhan-qd-{decision.id}.pdf")


def _entries_in_scope(decision: Decision) -> list[DecisionEntry]:
    from htsd_workflow.cases.models import Case

    return db.session.scalars(
        select(DecisionEntry)
        .join(Case, Case.id == DecisionEntry.case_id)
        .where(DecisionEntry.decision_id == decision.id, scope_clause(current_user, Case))
        .order_by(DecisionEntry.position)
    ).all()


@bp.route("/cases/<int:case_id>/certificate.pdf")
@access()
def case_certificate(case_id):
    from htsd_workflow.api.views import _visible_case
    from htsd_workflow.decisions.queries import entry_of_case

    _visible_case(case_id, current_user)
    entry = entry_of_case(case_id)
    if entry is None:
        from htsd_workflow.core.errors import NotFound

        raise NotFound(_("Hồ sơ chưa có giấy công nhận."))
    return certificate_response(entry)


# --- public check -------------------------------------------------------------------------


def _verify_limit():
    return current_app.config["VERIFY_RATE_LIMIT"]


@bp.route("/verify", methods=["GET", "POST"])
@access(public=True)
@limiter.shared_limit(_verify_limit, scope="verify")
def verify_form():
    typed = request.values.get("code", "")
    if typed:
        code = normalise_code(typed)
        if code is not None:
            return redirect(url_for("decisions.verify", code=code))
        return render_template("decisions/verify.html", result=None, asked=True), 404
    return render_template("decisions/verify.html", result=None, asked=False)


@bp.route("/verify/<string(maxlength=40):code>")
@access(public=True)
@limiter.shared_limit(_verify_limit, scope="verify")
def verify(code):
    result = verification(code)
    status = 200 if result is not None else 404
    response = current_app.make_response(
        (render_template("decisions/verify.html", result=result, asked=True), status)
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
