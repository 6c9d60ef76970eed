"""An applicant's own subject and cases; a reviewer's view of a subject, where a commune
officer enters a household's paper self-assessment or resets its head's password; the commune
itself as an applicant ("Cộng đồng học tập cấp xã")."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from htsd_workflow.auth.access import access
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import may_reset_password, reset_password
from htsd_workflow.auth.roles import PASSWORD_RESETTERS, STAFF_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.models import Case, Round
from htsd_workflow.cases.operations import start_case
from htsd_workflow.cases.rounds import round_of_year
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import Conflict, InvalidInput
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import TITLE_OF_KIND, Subject
from htsd_workflow.subjects.operations import create_subject

bp = Blueprint("subjects", __name__)


def _today() -> date:
    return to_local(utcnow()).date()


def _cases_of(subject: Subject) -> list[Case]:
    return db.session.scalars(
        select(Case).where(Case.subject_id == subject.id).order_by(Case.year.desc(), Case.id)
    ).all()


def open_years(subject: Subject, cases: list[Case]) -> list[int]:
    """Years whose round for the subject's title is open today and that have no case yet."""
    today = _today()
    title = TITLE_OF_KIND[subject.kind]
    taken = {c.year for c in cases if c.title == title}
    years = set(
        db.session.scalars(
            select(Round.year).where(
                Round.title == title,
                Round.registration_opens_on <= today,
                Round.registration_closes_on >= today,
            )
        )
    )
    if not db.session.scalar(
        select(Round.id).where(Round.title == title, Round.year == today.year)
    ):
        years.add(today.year)  # the default round of the current year opens on first use
    return sorted(y for y in years if y not in taken)


def _unit_names(subject: Subject) -> list[str]:
    codes = [c for c in (subject.commune_code, subject.district_code, subject.province_code) if c]
    names = dict(db.session.execute(select(Unit.code, Unit.name).where(Unit.code.in_(codes))).all())
    return [names[c] for c in codes if c in names]


def _start(subject: Subject, template: str, **context):
    """Open an application for the year chosen in the form; re-show the page on a refusal."""
    year = request.form.get("year", "")
    try:
        with transaction.undone_on_refusal():
            case = start_case(subject.id, TITLE_OF_KIND[subject.kind], int(year), current_user)
    except ValueError:
        error = _("Hãy chọn năm đăng ký.")
    except (InvalidInput, Conflict) as exc:
        error = exc.message
    else:
        return redirect(url_for("cases.assessment", case_id=case.id))
    cases = _cases_of(subject)
    return (
        render_template(
            template,
            subject=subject,
            cases=cases,
            years=open_years(subject, cases),
            places=_unit_names(subject),
            error=error,
            round=round_of_year(TITLE_OF_KIND[subject.kind], _today()),
            today=_today(),
            **context,
        ),
        422,
    )


@bp.route("/my")
@access("applicant")
def mine():
    """The applicant's household/clan/community/unit and its applications by year."""
    subject = db.session.get(Subject, current_user.subject_id) if current_user.subject_id else None
    if subject is None:
        abort(404)
    cases = _cases_of(subject)
    return render_template(
        "subjects/mine.html",
        subject=subject,
        cases=cases,
        years=open_years(subject, cases),
        places=_unit_names(subject),
        round=round_of_year(TITLE_OF_KIND[subject.kind], _today()),
        today=_today(),
    )


@bp.route("/my/cases", methods=["POST"])
@access("applicant")
def start_mine():
    """Start an application (a draft) for the applicant's own subject."""
    subject = db.session.get(Subject, current_user.subject_id) if current_user.subject_id else None
    if subject is None:
        abort(404)
    return _start(subject, "subjects/mine.html")


def _subject_in_scope(subject_id: int) -> Subject:
    subject = db.session.get(Subject, subject_id)
    if subject is None or not in_scope(current_user, subject):
        abort(404)
    return subject


def _accounts(subject: Subject) -> list[User]:
    return db.session.scalars(
        select(User).where(User.subject_id == subject.id).order_by(User.username)
    ).all()


def _may_start_on_behalf(subject: Subject) -> bool:
    return current_user.role == "commune_reviewer" and subject.managing_level == "commune"


def _subject_page_context(subject: Subject) -> dict:
    accounts = _accounts(subject)
    return {
        "accounts": accounts,
        "resettable": {a.id for a in accounts if may_reset_password(current_user, a)},
        "on_behalf": _may_start_on_behalf(subject),
    }


@bp.route("/subjects/<int:subject_id>")
@access(*STAFF_ROLES)
def show(subject_id: int):
    """A subject inside the reviewer's territory, with its cases and accounts."""
    subject = _subject_in_scope(subject_id)
    cases = _cases_of(subject)
    return render_template(
        "subjects/subject.html",
        subject=subject,
        cases=cases,
        years=open_years(subject, cases) if _may_start_on_behalf(subject) else [],
        places=_unit_names(subject),
        **_subject_page_context(subject),
    )


@bp.route("/subjects/<int:subject_id>/cases", methods=["POST"])
@access("commune_reviewer")
def start_on_behalf(subject_id: int):
    """A commune officer opens an application to enter a household's paper self-assessment."""
    subject = _subject_in_scope(subject_id)
    return _start(subject, "subjects/subject.html", **_subject_page_context(subject))


@bp.route("/commune", methods=["GET", "POST"])
@access("commune_reviewer")
def commune():
    """The commune itself as an applicant for "Cộng đồng học tập cấp xã": a commune officer
    enters it once (one subject per commune), then applies for it from its subject page."""
    unit = db.session.get(Unit, current_user.unit_code)
    subject = db.session.scalar(
        select(Subject).where(Subject.kind == "commune", Subject.unit_code == unit.code)
    )
    error = None
    if subject is None and request.method == "POST":
        try:
            with transaction.undone_on_refusal():
                subject = create_subject("commune", unit.name, unit.code)
        except (InvalidInput, Conflict) as exc:
            error = exc.message
    if subject is not None:
        return redirect(url_for("subjects.show", subject_id=subject.id))
    return render_template("subjects/commune.html", unit=unit, error=error), 422 if error else 200


@bp.route("/subjects/<int:subject_id>/accounts/<int:user_id>/reset-password", methods=["POST"])
@access(*PASSWORD_RESETTERS)
def reset_account_password(subject_id: int, user_id: int):
    """Give a household head a temporary password, shown once on this page."""
    subject = _subject_in_scope(subject_id)
    target = db.session.get(User, user_id)
    if target is None or target.subject_id != subject.id:
        abort(404)
    password = reset_password(target, current_user)
    # shown in this response only: never put in a flash message (the session cookie is
    # signed, not encrypted)
    return render_template(
        "auth/temporary_password.html",
        target=target,
        password=password,
        done_url=url_for("subjects.show", subject_id=subject.id),
    )
