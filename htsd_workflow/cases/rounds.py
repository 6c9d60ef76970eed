"""The annual round as communes run it: rounds opened and changed on a page, a village's
households registered for a round (each gets a draft), and many households' self-assessments
entered at once (the village grid) with per-case results."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from htsd_workflow.audit.operations import province_of, record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ASSESSMENT_EDITORS, REGISTRARS, ROUND_EDITORS
from htsd_workflow.auth.scope import in_scope, scope_clause
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import (
    AssessmentItem,
    Case,
    CaseEvent,
    Round,
    VillageMeeting,
    VillageMeetingVote,
)
from htsd_workflow.cases.operations import (
    BulkResult,
    fire_bulk,
    save_assessment,
    save_assessment_batch,
    set_round,
    start_case,
)
from htsd_workflow.core.collation import collated, sort_key
from htsd_workflow.core.errors import Conflict, DomainError, InvalidInput, NotAllowed, NotFound
from htsd_workflow.core.text import nfc
from htsd_workflow.core.time import to_local, utcnow
from htsd_workflow.extensions import db
from htsd_workflow.subjects.models import Subject

#: how many households one registration or one grid save may name
MAX_ROWS = 5000

#: where a bulk entry came from, as the case's history records it
ENTRY_SOURCES = ("grid", "file", "api")


def _may(user: User, roles: tuple[str, ...]) -> bool:
    return user is not None and user.is_active and user.role in roles


def list_rounds(*, title: str | None = None, year: int | None = None) -> list[Round]:
    """Rounds, newest year first (every signed-in user may read a round's dates)."""
    statement = select(Round).order_by(Round.year.desc(), Round.title)
    if title is not None:
        statement = statement.where(Round.title == title)
    if year is not None:
        statement = statement.where(Round.year == year)
    return list(db.session.scalars(statement))


def get_round(round_id: int) -> Round:
    found = db.session.get(Round, round_id)
    if found is None:
        raise NotFound(_l("Không tìm thấy đợt xét công nhận."))
    return found


def _round_fields(round_: Round) -> dict:
    return {
        "registration_opens_on": round_.registration_opens_on.isoformat(),
        "registration_closes_on": round_.registration_closes_on.isoformat(),
        "review_deadline": round_.review_deadline.isoformat(),
        "level_deadlines": dict(round_.level_deadlines or {}),
    }


_LEVEL_NAMES = {
    "commune": _l("Hạn xét cấp xã"),
    "district": _l("Hạn xét cấp huyện"),
    "province": _l("Hạn xét cấp tỉnh"),
}


def _checked_level_deadlines(
    levels: dict | None, closes_on: date, review_deadline: date
) -> dict | None:
    """Each level's deadline: after registration closes, by the round's deadline, and no
    level before the one below it (a case reaches the district after the commune)."""
    if levels is None:
        return None
    errors, found, last = {}, {}, None
    for level in Round.LEVELS:
        day = levels.get(level)
        if day is None:
            continue
        key = f"level_deadlines.{level}"
        if not closes_on <= day <= review_deadline:
            errors[key] = _l(
                "%(what)s phải từ ngày kết thúc đăng ký đến hạn hoàn thành xét duyệt",
                what=_LEVEL_NAMES[level],
            )
        elif last is not None and day < last:
            errors[key] = _l("%(what)s không được trước hạn của cấp dưới", what=_LEVEL_NAMES[level])
        found[level], last = day.isoformat(), day
    unknown = set(levels) - set(Round.LEVELS)
    if unknown:
        errors["level_deadlines"] = _l("Chỉ có cấp xã, huyện, tỉnh")
    if errors:
        raise InvalidInput(_l("Hạn xét của các cấp chưa hợp lệ."), details=errors)
    return found


def save_round(
    title: str,
    year: int,
    opens_on: date,
    closes_on: date,
    review_deadline: date,
    actor: User | None,
    *,
    must_be_new: bool = False,
    level_deadlines: dict | None = None,
) -> Round:
    """Open or change a round (the command line's checks), audited. ``level_deadlines``
    (level → date) replaces each level's own deadline; None leaves them as they are."""
    if actor is not None and not _may(actor, ROUND_EDITORS):
        raise NotAllowed(_l("Chỉ cán bộ tỉnh hoặc quản trị được mở, sửa đợt."))
    if not 2000 <= year <= 2100:
        raise InvalidInput(
            _l("Năm %(year)s không hợp lệ.", year=year), details={"year": _l("Từ 2000 đến 2100")}
        )
    existing = db.session.scalar(select(Round).where(Round.title == title, Round.year == year))
    if must_be_new and existing is not None:
        raise Conflict(
            _l("Đã có đợt danh hiệu %(title)s năm %(year)s.", title=title, year=year),
            details={"id": existing.id},
        )
    before = _round_fields(existing) if existing is not None else None
    if review_deadline < closes_on:
        raise InvalidInput(
            _l("Hạn hoàn thành xét duyệt phải sau ngày kết thúc đăng ký."),
            details={"review_deadline": _l("Phải sau ngày kết thúc đăng ký")},
        )
    levels = _checked_level_deadlines(level_deadlines, closes_on, review_deadline)
    found = set_round(title, year, opens_on, closes_on, review_deadline)
    if levels is not None:
        found.level_deadlines = levels
    elif found.level_deadlines:  # the round's new dates must still hold the levels' own
        _checked_level_deadlines(
            {k: date.fromisoformat(v) for k, v in found.level_deadlines.items()},
            closes_on,
            review_deadline,
        )
    db.session.flush()
    after = _round_fields(found)
    if before != after:
        record_audit(
            "round_changed" if before else "round_opened",
            actor=actor,
            target=f"round:{found.id}",
            details={"title": title, "year": year, "before": before, "after": after},
            province_code=province_of(actor),
        )
    return found


def change_round(
    round_id: int,
    actor: User | None,
    *,
    opens_on: date | None = None,
    closes_on: date | None = None,
    review_deadline: date | None = None,
    close: bool = False,
    now: datetime | None = None,
    level_deadlines: dict | None = None,
) -> Round:
    """Change a round's dates; ``close`` ends registration today (it closed yesterday), so
    households no longer start a case in it."""
    found = get_round(round_id)
    opens_on = opens_on or found.registration_opens_on
    closes_on = closes_on or found.registration_closes_on
    if close:
        yesterday = to_local(now or utcnow()).date() - timedelta(days=1)
        closes_on = min(closes_on, yesterday)
        opens_on = min(opens_on, closes_on)
    return save_round(
        found.title,
        found.year,
        opens_on,
        closes_on,
        review_deadline or found.review_deadline,
        actor,
        level_deadlines=level_deadlines,
    )


def round_of_year(title: str, today: date) -> Round | None:
    """The round of ``title`` for the year of ``today``, the one a household's page shows."""
    return db.session.scalar(select(Round).where(Round.title == title, Round.year == today.year))


# --- registration -------------------------------------------------------------------------


def register_households(
    round_id: int, subject_ids: list[int], actor: User, *, now: datetime | None = None
) -> dict:
    """Register households for a round: each gets a draft case. Per household: registered
    (with its new case), already registered (with the case it has), or refused (with why).
    A household registered twice is not an error, so a list can be sent again."""
    if not _may(actor, REGISTRARS):
        raise NotAllowed(_l("Chỉ trưởng thôn hoặc cán bộ xã được đăng ký hộ."))
    round_ = get_round(round_id)
    ids = list(dict.fromkeys(int(i) for i in subject_ids))
    if not ids or len(ids) > MAX_ROWS:
        raise InvalidInput(
            _l("Chọn từ 1 đến %(n)s hộ.", n=MAX_ROWS),
            details={"subject_ids": _l("Từ 1 đến %(n)s mã", n=MAX_ROWS)},
        )
    now = now or utcnow()
    existing = dict(
        db.session.execute(
            select(Case.subject_id, Case.id).where(
                Case.subject_id.in_(ids), Case.title == round_.title, Case.year == round_.year
            )
        ).all()
    )
    registered, already, failed = [], [], []
    for subject_id in ids:
        if subject_id in existing:
            subject = db.session.get(Subject, subject_id)
            if subject is not None and in_scope(actor, subject):
                already.append({"subject_id": subject_id, "case_id": existing[subject_id]})
                continue
        try:
            with db.session.begin_nested():
                case = start_case(subject_id, round_.title, round_.year, actor, now=now)
        except DomainError as exc:
            failed.append({"subject_id": subject_id, "code": exc.code, "message": exc.message})
            continue
        registered.append({"subject_id": subject_id, "case_id": case.id})
    return {
        "registered": registered,
        "already_registered": already,
        "failed": failed,
        "counts": {
            "registered": len(registered),
            "already_registered": len(already),
            "failed": len(failed),
        },
    }


def village_households(village_id: int, actor: User, round_: Round | None = None) -> list:
    """(household, its case in the round or None) for a village the actor may see, by name."""
    village = db.session.get(Subject, village_id)
    if (
        village is None
        or village.kind != "community"
        or not (in_scope(actor, village) or actor.subject_id == village.id)
    ):
        raise NotFound(_l("Không tìm thấy thôn/tổ dân phố trong phạm vi của bạn."))
    statement = (
        select(Subject)
        .where(Subject.community_id == village.id, Subject.kind == "family")
        .where(scope_clause(actor, Subject))
        .order_by(collated(Subject.name), Subject.id)
    )
    households = list(db.session.scalars(statement))
    cases = {}
    if round_ is not None and households:
        cases = {
            c.subject_id: c
            for c in db.session.scalars(
                select(Case).where(
                    Case.subject_id.in_([h.id for h in households]),
                    Case.title == round_.title,
                    Case.year == round_.year,
                )
            )
        }
    return [(h, cases.get(h.id)) for h in households]


def villages_of(actor: User) -> list[Subject]:
    """The villages (community subjects) whose grid the actor may open, by name."""
    if actor.role == "village_head":
        village = db.session.get(Subject, actor.subject_id) if actor.subject_id else None
        return [village] if village is not None else []
    return list(
        db.session.scalars(
            select(Subject)
            .where(Subject.kind == "community", scope_clause(actor, Subject))
            .order_by(collated(Subject.name), Subject.id)
        )
    )


# --- entry in bulk ------------------------------------------------------------------------


def save_assessments(
    rows: list[dict],
    actor: User,
    *,
    submit: bool = False,
    source: dict | None = None,
    now: datetime | None = None,
) -> dict:
    """Save many cases' scores at once (each row: ``case_id``, ``items``, optional
    ``version``) with a few statements for all (``save_assessment_batch``), with per-case
    results as bulk transitions have.

    With ``submit``, the rows saved whole are then sent (``submit`` from draft, ``resubmit``
    when returned); those that are not complete are listed with why. ``source`` (where the
    entry came from: ``{"via": "grid"}``, ``{"via": "file", "file": …, "row": …}``) goes into
    each case's history beside who entered it.
    """
    if not _may(actor, ASSESSMENT_EDITORS):
        raise NotAllowed(_l("Bạn không được nhập bản tự đánh giá hàng loạt."))
    if not rows or len(rows) > MAX_ROWS:
        raise InvalidInput(
            _l("Gửi từ 1 đến %(n)s hồ sơ.", n=MAX_ROWS),
            details={"cases": _l("Từ 1 đến %(n)s hồ sơ", n=MAX_ROWS)},
        )
    now = now or utcnow()
    source = dict(source or {"via": "api"})
    saved = BulkResult()
    seen = set()
    batch, positions, twice = [], [], []
    for position, row in enumerate(rows):
        case_id = int(row["case_id"])
        if case_id in seen:
            twice.append(
                {
                    "id": case_id,
                    "code": "invalid_input",
                    "message": str(_l("Hồ sơ có mặt hai lần trong cùng một lần lưu.")),
                    "position": position,
                }
            )
            continue
        seen.add(case_id)
        positions.append(position)
        batch.append(
            {
                "case_id": case_id,
                "items": row.get("items") or [],
                "version": row.get("version"),
                "source": {**source, "row": row.get("row", position + 1)},
            }
        )
    done, refused = save_assessment_batch(batch, actor, now=now)
    saved.succeeded += [{k: s[k] for k in ("id", "state", "version")} for s in done]
    for failure in refused:  # back to the position in ``rows``, beside the ones sent twice
        failure["position"] = positions[failure["position"]]
    saved.failed += [
        {k: f[k] for k in ("id", "code", "message")}
        for f in sorted(refused + twice, key=lambda f: f["position"])
    ]
    result = {"saved": saved.as_dict(), "submitted": None}
    if submit and saved.succeeded:
        states = dict(
            db.session.execute(
                select(Case.id, Case.state).where(Case.id.in_([s["id"] for s in saved.succeeded]))
            ).all()
        )
        sent = BulkResult()
        for trigger, state in (("submit", "draft"), ("resubmit", "returned")):
            ids = [i for i, s in states.items() if s == state]
            if ids:
                part = fire_bulk(ids, trigger, actor, now=now)
                sent.succeeded += part.succeeded
                sent.failed += part.failed
        for case_id, state in states.items():
            if state not in ("draft", "returned"):
                sent.failed.append(
                    {
                        "id": case_id,
                        "code": "conflict",
                        "message": str(_l("Hồ sơ đã được gửi trước đó.")),
                    }
                )
        result["submitted"] = sent.as_dict()
    return result


def round_progress(round_: Round, actor: User) -> list[dict]:
    """Per commune of the actor's territory: registered, submitted, at each state, recognised."""
    rows = db.session.execute(
        select(
            Case.district_code,
            Case.commune_code,
            Case.state,
            func.count(),
            func.count(Case.submitted_at),
        )
        .where(Case.title == round_.title, Case.year == round_.year)
        .where(scope_clause(actor, Case))
        .group_by(Case.district_code, Case.commune_code, Case.state)
    ).all()
    by_area: dict[tuple, dict] = {}
    for district, commune, state, count, submitted in rows:
        area = by_area.setdefault(
            (district, commune),
            {
                "district_code": district,
                "commune_code": commune,
                "registered": 0,
                "submitted": 0,
                "states": {},
            },
        )
        area["registered"] += count
        area["submitted"] += submitted
        area["states"][state] = count
    return [by_area[key] for key in sorted(by_area, key=lambda k: (k[0] or "", k[1] or ""))]


# --- the village meeting (bình xét) -------------------------------------------------------


def _village_for(village_id: int, actor: User) -> Subject:
    village = db.session.get(Subject, village_id)
    if village is None or village.kind != "community":
        raise NotFound(_l("Không tìm thấy thôn/tổ dân phố trong phạm vi của bạn."))
    if actor.role == "village_head":
        if actor.subject_id != village.id:
            raise NotFound(_l("Không tìm thấy thôn/tổ dân phố trong phạm vi của bạn."))
    elif not in_scope(actor, village):
        raise NotFound(_l("Không tìm thấy thôn/tổ dân phố trong phạm vi của bạn."))
    return village


def record_meeting(
    village_id: int,
    round_id: int,
    *,
    held_on: date,
    chair: str,
    secretary: str,
    attendance: int,
    votes: list[dict],
    actor: User,
    minutes_path: str | None = None,
    now: datetime | None = None,
) -> VillageMeeting:
    """Record a village's meeting of a round with the vote on each household (votes for, out
    of those present); one meeting per village and round (a second is a conflict)."""
    if not _may(actor, REGISTRARS):
        raise NotAllowed(_l("Chỉ trưởng thôn hoặc cán bộ xã được ghi kết quả họp thôn."))
    village = _village_for(village_id, actor)
    round_ = get_round(round_id)
    existing = db.session.scalar(
        select(VillageMeeting.id).where(
            VillageMeeting.village_id == village.id, VillageMeeting.round_id == round_.id
        )
    )
    if existing is not None:
        raise Conflict(
            _l("Thôn đã có biên bản họp bình xét của đợt này."), details={"id": existing}
        )
    errors = {}
    chair, secretary = nfc(chair), nfc(secretary)
    if not chair:
        errors["chair"] = _l("Bắt buộc")
    if not secretary:
        errors["secretary"] = _l("Bắt buộc")
    if held_on > to_local(now or utcnow()).date():
        errors["held_on"] = _l("Không được sau hôm nay")
    households = set(
        db.session.scalars(select(Subject.id).where(Subject.community_id == village.id))
    )
    seen = set()
    for position, vote in enumerate(votes):
        key = f"votes[{position}]"
        subject_id = vote["subject_id"]
        if subject_id not in households:
            errors[key] = _l("Hộ không thuộc thôn này")
        elif subject_id in seen:
            errors[key] = _l("Hộ có mặt hai lần")
        elif not 0 <= vote["votes_for"] <= vote["present"] <= attendance:
            errors[key] = _l("Cần 0 ≤ số phiếu đồng ý ≤ số người biểu quyết ≤ số người dự họp")
        seen.add(subject_id)
    if errors:
        raise InvalidInput(_l("Biên bản họp thôn chưa hợp lệ."), details=errors)
    meeting = VillageMeeting(
        village_id=village.id,
        round_id=round_.id,
        held_on=held_on,
        chair=chair,
        secretary=secretary,
        attendance=attendance,
        minutes_path=minutes_path,
        recorded_by_id=actor.id,
        recorded_at=now or utcnow(),
    )
    db.session.add(meeting)
    db.session.flush()
    db.session.add_all(
        VillageMeetingVote(
            meeting_id=meeting.id,
            subject_id=v["subject_id"],
            votes_for=v["votes_for"],
            present=v["present"],
        )
        for v in votes
    )
    db.session.flush()
    return meeting


def meetings_for(actor: User, *, round_id: int | None = None) -> list[VillageMeeting]:
    """The meetings of the villages the actor sees, newest first."""
    statement = (
        select(VillageMeeting)
        .join(Subject, Subject.id == VillageMeeting.village_id)
        .order_by(VillageMeeting.held_on.desc(), VillageMeeting.id.desc())
    )
    if actor.role == "village_head":
        statement = statement.where(VillageMeeting.village_id == actor.subject_id)
    else:
        statement = statement.where(scope_clause(actor, Subject))
    if round_id is not None:
        statement = statement.where(VillageMeeting.round_id == round_id)
    return list(db.session.scalars(statement))


def meeting_votes_of(meeting_ids) -> dict[int, list[VillageMeetingVote]]:
    ids = list(meeting_ids)
    found: dict[int, list] = {i: [] for i in ids}
    if ids:
        for vote in db.session.scalars(
            select(VillageMeetingVote)
            .where(VillageMeetingVote.meeting_id.in_(ids))
            .order_by(VillageMeetingVote.id)
        ):
            found[vote.meeting_id].append(vote)
    return found


# --- year to year -------------------------------------------------------------------------


def previous_case(case: Case) -> Case | None:
    """The household's latest case of the same title in an earlier year."""
    return db.session.scalar(
        select(Case)
        .where(Case.subject_id == case.subject_id, Case.title == case.title, Case.year < case.year)
        .order_by(Case.year.desc())
        .limit(1)
    )


def copied_from(case: Case) -> int | None:
    """The case whose assessment this one's latest save copied (None when typed)."""
    data = db.session.scalar(
        select(CaseEvent.data)
        .where(CaseEvent.case_id == case.id, CaseEvent.trigger == "assess")
        .order_by(CaseEvent.id.desc())
        .limit(1)
    )
    source = (data or {}).get("source") or {}
    return source.get("from_case") if source.get("via") == "copy" else None


def copy_last_year(case_id: int, actor: User, *, now: datetime | None = None) -> Case:
    """Start a draft's assessment from the household's previous case: the scores and evidence
    notes of the criteria both sets share (never files); the history marks it as copied."""
    case = db.session.get(Case, case_id)
    if case is None or not in_scope(actor, case):
        raise NotFound(_l("Không tìm thấy hồ sơ trong phạm vi của bạn."))
    previous = previous_case(case)
    if previous is None:
        raise InvalidInput(
            _l("Hộ chưa có hồ sơ năm trước để chép."), details={"case_id": _l("Không có")}
        )
    codes = {item.code for item in get_registry().criteria_set(case.criteria_set_id).items}
    entries = [
        {"code": item.code, "score": item.score, "evidence": item.evidence}
        for item in db.session.scalars(
            select(AssessmentItem).where(AssessmentItem.case_id == previous.id)
        )
        if item.code in codes and item.score is not None
    ]
    if not entries:
        raise InvalidInput(
            _l("Hồ sơ năm trước không có điểm nào dùng được cho bộ tiêu chí năm nay."),
            details={"case_id": previous.id},
        )
    return save_assessment(
        case.id,
        entries,
        actor,
        now=now,
        source={"via": "copy", "from_case": previous.id, "year": previous.year},
    )


def village_progress(round_: Round, actor: User) -> list[dict]:
    """Per village of the actor's territory: households registered and submitted."""
    rows = db.session.execute(
        select(
            Subject.community_id,
            func.count(Case.id),
            func.count(Case.submitted_at),
            func.count(Case.id).filter(Case.state == "recognized"),
        )
        .select_from(Case)
        .join(Subject, Subject.id == Case.subject_id)
        .where(Case.title == round_.title, Case.year == round_.year)
        .where(scope_clause(actor, Case))
        .group_by(Subject.community_id)
    ).all()
    names = dict(
        db.session.execute(
            select(Subject.id, Subject.name).where(
                Subject.id.in_([r[0] for r in rows if r[0] is not None])
            )
        ).all()
    )
    return sorted(
        (
            {
                "village_id": village_id,
                "name": names.get(village_id),
                "registered": registered,
                "submitted": submitted,
                "recognized": recognized,
            }
            for village_id, registered, submitted, recognized in rows
        ),
        key=lambda r: (r["name"] is None, sort_key(r["name"])),
    )


def waiting_in_commune_review(actor: User, *, limit: int = 20) -> list:
    """(case, household name) waiting on the commune officer, soonest due first."""
    return list(
        db.session.execute(
            select(Case, Subject.name)
            .join(Subject, Subject.id == Case.subject_id)
            .where(Case.state == "commune_review", scope_clause(actor, Case))
            .order_by(Case.due_at.asc().nulls_last(), Case.id)
            .limit(limit)
        ).all()
    )


def consecutive_years(years) -> int:
    """How many years in a row, ending with the latest of ``years`` ("3 năm liền")."""
    found = sorted(set(years), reverse=True)
    if not found:
        return 0
    streak = 0
    for expected, year in zip(range(found[0], found[0] - len(found), -1), found, strict=False):
        if year != expected:
            break
        streak += 1
    return streak
