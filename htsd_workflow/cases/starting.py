"""Starting a case: an application (draft) for a subject in an open round, with its
assessment items and a history row."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from sqlalchemy import insert, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ON_BEHALF_ENTRY_ROLES
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import (
    AssessmentItem,
    Case,
    Round,
)
from htsd_workflow.cases.round_dates import ensure_round
from htsd_workflow.cases.writing import _record_event
from htsd_workflow.core.errors import (
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
)
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.core.titles import TITLES
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import TITLE_OF_KIND, Subject


def _may_start_for(user: User, subject: Subject) -> bool:
    if user.role == "applicant":
        return user.subject_id == subject.id
    if user.role in ON_BEHALF_ENTRY_ROLES:
        return subject.managing_level == "commune" and in_scope(user, subject)
    if user.role == "district_reviewer":
        return subject.managing_level == "district" and in_scope(user, subject)
    if user.role == "province_officer":
        return subject.managing_level == "province" and in_scope(user, subject)
    return False


def start_case(subject_id: int, title: str, year: int, user: User, *, now=None) -> Case:
    """Open an application (draft) for a subject in an open round."""
    registry = get_registry()
    now = now or utcnow()
    subject = db.session.get(Subject, subject_id)
    if subject is None or not in_scope(user, subject):
        raise NotFound(_l("Không tìm thấy đối tượng trong phạm vi của bạn."))
    if not _may_start_for(user, subject):
        raise NotAllowed(_l("Bạn không được lập hồ sơ cho đối tượng này."))
    if title not in TITLE_OF_KIND.values():
        raise InvalidInput(
            _l("Danh hiệu “%(title)s” không tồn tại.", title=title),
            details={"title": _l("Chọn một trong: %(choices)s", choices=", ".join(TITLES))},
        )
    if TITLE_OF_KIND[subject.kind] != title:
        raise InvalidInput(
            _l("Danh hiệu không phù hợp với loại đối tượng."),
            details={
                "title": _l(
                    "Đối tượng loại %(kind)s chỉ đăng ký danh hiệu %(title)s",
                    kind=subject.kind,
                    title=TITLE_OF_KIND[subject.kind],
                )
            },
        )
    today = to_local(now).date()
    if not 2000 <= year <= 2100:  # also keeps a number the database cannot hold out of SQL
        raise InvalidInput(
            _l("Năm %(year)s không hợp lệ.", year=year),
            details={"year": _l("Chọn năm có đợt đăng ký đang mở")},
        )
    round_ = db.session.scalar(select(Round).where(Round.title == title, Round.year == year))
    if round_ is None and year == today.year:
        round_ = ensure_round(title, year)
    if round_ is None or not round_.is_open_on(today):
        raise InvalidInput(
            _l("Đợt đăng ký danh hiệu năm %(year)s chưa mở hoặc đã đóng.", year=year),
            details={"year": _l("Chọn năm có đợt đăng ký đang mở")},
        )
    existing = db.session.scalar(
        select(Case.id).where(Case.subject_id == subject.id, Case.title == title, Case.year == year)
    )
    if existing is not None:
        raise Conflict(
            _l(
                "Đối tượng này đã có hồ sơ danh hiệu năm %(year)s (mã hồ sơ %(case_id)s).",
                year=year,
                case_id=existing,
            ),
            details={"case_id": existing},
        )
    definition = definition_for(title, subject.province_code)
    cset = registry.criteria_for(title, year, subject.managing_level, today)
    case = Case(
        subject_id=subject.id,
        title=title,
        year=year,
        workflow=definition.ref,
        criteria_set_id=cset.id,
        state=definition.initial,
        is_open=True,
        entry_level=subject.managing_level,
        province_code=subject.province_code,
        district_code=subject.district_code,
        commune_code=subject.commune_code,
        stage_entered_at=now,
        created_at=now,
        version=1,
    )
    db.session.add(case)
    db.session.flush()
    db.session.execute(
        insert(AssessmentItem),
        [
            {"case_id": case.id, "code": item.code, "position": position}
            for position, item in enumerate(cset.items)
        ],
    )
    _record_event(case, user, "create", comment=None, now=now, from_state=None)
    return case


def definition_for(title: str, province_code: str):
    """The definition a new case (or decision) of ``title`` in a province runs under: the
    province's set (its data), else the installation's default. KeyError for no such title.
    A running case's is ``registry.definition_of(case)``, the set it records."""
    return get_registry().definition(title, workflow_set_of(province_code))


def workflow_set_of(province_code: str) -> str | None:
    """The workflow set a province's new cases run (its data), or None for the default."""
    return db.session.scalar(select(Unit.workflow_set).where(Unit.code == province_code))
