"""The only code that changes decisions: draft, remove from a draft, issue, keep the PDF.

Functions flush, never commit. The cases' history rows and notifications of an issue are
written by ``cases.operations.record_decision_issued``; a revocation is the workflow's
``revoke`` trigger fired through ``cases.operations.fire_trigger``.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from htsd_workflow.auth.issuers import acts_for_issuing_level, is_leader_of
from htsd_workflow.auth.models import User
from htsd_workflow.auth.scope import in_scope
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import definition_for, record_decision_issued
from htsd_workflow.core.collation import collated
from htsd_workflow.core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from htsd_workflow.core.labels import LEVEL_LABELS
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import utcnow
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import Subject

#: a verification code: 80 random bits in base32 (16 letters A-Z and digits 2-7)
CODE_BYTES = 10
_CODE_RE = re.compile(r"^[A-Z2-7]{16}$")


def new_code() -> str:
    return base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode("ascii")


def normalise_code(typed: str | None) -> str | None:
    """A typed or scanned code in its stored form (spaces and dashes dropped, upper case);
    None when it cannot be a code."""
    if not typed:
        return None
    code = re.sub(r"[\s\-]", "", str(typed)).upper()
    return code if _CODE_RE.match(code) else None


def format_code(code: str) -> str:
    """A code in groups of four for people to read and type: ABCD-EFGH-IJKL-MNOP."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def _decision_for(decision_id: int, user: User, *, lock: bool = False) -> Decision:
    statement = select(Decision).where(Decision.id == decision_id)
    if lock:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    decision = db.session.scalar(statement)
    if decision is None or user.role == "applicant" or not in_scope(user, decision):
        raise NotFound(_l("Không tìm thấy quyết định trong phạm vi của bạn."))
    return decision


def visible_decision(decision_id: int, user: User) -> Decision:
    """A decision the user's territory covers (404 otherwise)."""
    return _decision_for(decision_id, user)


def decision_path(decision: Decision) -> tuple[str, str | None, str | None]:
    return (decision.province_code, decision.district_code, decision.commune_code)


def _check_drafter(user: User, level: str, path) -> None:
    """The officer of the issuing level for that territory, or its leader."""
    if not acts_for_issuing_level(user, level, path):
        raise NotAllowed(
            _l("Chỉ cán bộ của cấp ban hành quyết định mới được lập dự thảo quyết định.")
        )


def territory_cases(decision: Decision, managed_by: tuple[str, ...]):
    """The recognised cases of the decision's title, year and territory in no decision yet,
    of the subjects managed at ``managed_by`` (those whose decisions the level issues)."""
    where = [
        Case.title == decision.title,
        Case.year == decision.year,
        Case.state == "recognized",
        Case.province_code == decision.province_code,
        Case.entry_level.in_(managed_by),
        ~exists().where(DecisionEntry.case_id == Case.id),
    ]
    if decision.level == "district":
        where.append(Case.district_code == decision.district_code)
    elif decision.level == "commune":
        where.append(Case.commune_code == decision.commune_code)
    return where


def draft_decision(
    title: str, year: int, unit_code: str, user: User, *, now: datetime | None = None
) -> Decision:
    """A draft decision for a round (title, year) and a territory, listing its recognised
    cases that no decision lists yet. The territory's level must be one the title's
    ``decision:`` block issues at (for a unit: the level that manages it)."""
    now = now or utcnow()
    registry = get_registry()
    if title not in registry.definitions:
        raise InvalidInput(
            _l("Danh hiệu không hợp lệ."), details={"title": _l("Danh hiệu không hợp lệ.")}
        )
    unit = db.session.get(Unit, str(unit_code)) if unit_code else None
    if unit is None or not in_scope(user, unit):
        raise NotFound(_l("Không tìm thấy đơn vị hành chính trong phạm vi của bạn."))
    definition = definition_for(title, unit.province_code)
    block = definition.decision
    if block is None:
        raise InvalidInput(
            _l("Quy trình của danh hiệu này chưa quy định cấp ban hành quyết định."),
            details={"title": _l("Thiếu mục decision trong tệp quy trình.")},
        )
    managed_by = definition.managed_by_issued_at(unit.level)
    if not managed_by:
        level = " / ".join(str(LEVEL_LABELS.get(lv, lv)).lower() for lv in block.texts)
        raise InvalidInput(
            _l("Quyết định danh hiệu này do %(level)s ban hành.", level=level),
            details={"unit": _l("Chọn một đơn vị hành chính %(level)s.", level=level)},
        )
    path = unit.path()
    _check_drafter(user, unit.level, path)
    text = block.text(unit.level)
    province, district, commune = path
    decision = Decision(
        title=title,
        year=int(year),
        level=unit.level,
        unit_code=unit.code,
        province_code=province,
        district_code=district,
        commune_code=commune,
        status="draft",
        body_name=text.body_name(unit.name),
        signer_title=text.signer_title,
        bases="\n".join(block.bases),
        valid_months=block.valid_months,
        created_by_id=user.id,
        created_at=now,
    )
    db.session.add(decision)
    db.session.flush()
    _list_cases(decision, managed_by)
    return decision


def _list_cases(decision: Decision, managed_by: tuple[str, ...]) -> None:
    village = aliased(Subject)
    commune = aliased(Unit)
    # the commune, or for a unit a district or the province manages, that district or province
    place = func.coalesce(Case.commune_code, Case.district_code, Case.province_code)
    rows = db.session.execute(
        select(Case.id, Subject.name, Subject.kind, village.name, commune.name)
        .join(Subject, Subject.id == Case.subject_id)
        .outerjoin(village, village.id == Subject.community_id)
        .outerjoin(commune, commune.code == place)
        .where(*territory_cases(decision, managed_by))
        .order_by(collated(commune.name), collated(village.name), collated(Subject.name), Case.id)
    ).all()
    entries = [
        {
            "decision_id": decision.id,
            "case_id": case_id,
            "position": position,
            "code": new_code(),
            "name": name,
            "village": village_name or (name if kind == "community" else None),
            "commune": commune_name,
        }
        for position, (case_id, name, kind, village_name, commune_name) in enumerate(rows, 1)
    ]
    if not entries:
        return
    try:
        with db.session.begin_nested():
            db.session.execute(insert(DecisionEntry), entries)
    except IntegrityError as exc:  # another draft took some of these cases meanwhile
        raise Conflict(
            _l("Một số hồ sơ vừa được đưa vào quyết định khác. Vui lòng thử lại.")
        ) from exc


def remove_from_draft(decision_id: int, case_ids: list[int], user: User) -> Decision:
    """Take cases off a draft decision (they may go into a later one)."""
    decision = _decision_for(decision_id, user, lock=True)
    _check_drafter(user, decision.level, decision_path(decision))
    if decision.is_issued:
        raise Conflict(_l("Quyết định đã ban hành, không thể thay đổi."))
    db.session.execute(
        delete(DecisionEntry)
        .where(DecisionEntry.decision_id == decision.id, DecisionEntry.case_id.in_(case_ids))
        .execution_options(synchronize_session=False)
    )
    db.session.expire(decision, ["entries"])
    return decision


MAX_NUMBER_LENGTH = 60
MAX_SIGNER_LENGTH = 200


def issue_decision(
    decision_id: int,
    number: str,
    issued_on: date,
    signer_name: str,
    user: User,
    *,
    now: datetime | None = None,
) -> Decision:
    """Issue a draft: number, date and signer; every listed case gets a history row and its
    applicant a notification in the same transaction. An issued decision never changes."""
    now = now or utcnow()
    decision = _decision_for(decision_id, user, lock=True)
    if not is_leader_of(user, decision.level, decision_path(decision)):
        raise NotAllowed(_l("Chỉ lãnh đạo của cấp ban hành mới được ban hành quyết định."))
    if decision.is_issued:
        raise Conflict(
            _l("Quyết định đã được ban hành (số %(number)s).", number=decision.number),
            details={"status": decision.status},
        )
    block = definition_for(decision.title, decision.province_code).decision
    number = nfc(number) or ""
    signer_name = nfc(signer_name) or ""
    errors = {}
    if not number:
        errors["number"] = _l("Nhập số, ký hiệu quyết định.")
    elif len(number) > MAX_NUMBER_LENGTH:
        errors["number"] = _l("Tối đa %(limit)s ký tự", limit=MAX_NUMBER_LENGTH)
    if not signer_name:
        errors["signer_name"] = _l("Nhập họ tên người ký.")
    elif len(signer_name) > MAX_SIGNER_LENGTH:
        errors["signer_name"] = _l("Tối đa %(limit)s ký tự", limit=MAX_SIGNER_LENGTH)
    if not isinstance(issued_on, date):
        errors["date"] = _l("Nhập ngày ký.")
    if errors:
        raise InvalidInput(_l("Thông tin ban hành chưa hợp lệ."), details=errors)
    if block is not None and decision.level in block.texts:
        number = block.text(decision.level).format_number(number)
    entries = db.session.scalars(
        select(DecisionEntry.case_id).where(DecisionEntry.decision_id == decision.id)
    ).all()
    if not entries:
        raise InvalidInput(_l("Quyết định chưa có hồ sơ nào trong danh sách."))
    taken = db.session.scalar(
        select(Decision.id).where(
            Decision.unit_code == decision.unit_code,
            Decision.year == decision.year,
            Decision.number == number,
            Decision.id != decision.id,
        )
    )
    if taken is not None:
        raise Conflict(
            _l("Số quyết định %(number)s đã được dùng.", number=number),
            details={"number": _l("Số này đã được dùng cho quyết định khác.")},
        )
    result = db.session.execute(
        update(Decision)
        .where(Decision.id == decision.id, Decision.status == "draft")
        .values(
            status="issued",
            number=number,
            issued_on=issued_on,
            signer_name=signer_name,
            issued_at=now,
            issued_by_id=user.id,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # pragma: no cover - the row is locked
        raise Conflict(_l("Quyết định vừa được người khác ban hành."))
    facts = {
        "decision_id": decision.id,
        "number": number,
        "date": issued_on.strftime("%d/%m/%Y"),
    }
    record_decision_issued(list(entries), user, facts, now=now)
    db.session.expire(decision)
    return decision


def store_pdf(decision: Decision, pdf: bytes, *, signed: bool) -> bytes:
    """Keep an issued decision's PDF the first time it is made; later calls get that one."""
    db.session.execute(
        update(Decision)
        .where(Decision.id == decision.id, Decision.status == "issued", Decision.pdf.is_(None))
        .values(pdf=pdf, is_signed=signed)
        .execution_options(synchronize_session=False)
    )
    db.session.expire(decision, ["pdf", "is_signed"])
    return decision.pdf
