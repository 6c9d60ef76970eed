"""Demo data: Kon Tum geography, subjects in every commune, demo accounts and cases.

Idempotent: geography and accounts are upserted; cases are created only when there are none.
Cases go through the real operations with back-dated moments, so their history, stage visits,
deadlines and outbox rows are exactly what real use would leave.
"""

from __future__ import annotations

import random
import secrets
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import DEPARTMENT_ROLES, REVIEWER_ROLES
from htsd_workflow.cases.assessment import KEEP
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import (
    ensure_round,
    fire_trigger,
    save_assessment,
    start_case,
)
from htsd_workflow.core.errors import DomainError
from htsd_workflow.core.time import LOCAL_TZ, to_utc_naive
from htsd_workflow.core.titles import TITLES
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import DbkkPeriod, Unit
from htsd_workflow.geography.operations import import_province
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.months import close_months
from htsd_workflow.sla.operations import scan_sla
from htsd_workflow.subjects.models import Subject
from htsd_workflow.subjects.operations import create_subject

PROVINCE = "62"
DEMO_PASSWORD = "demo1234"
#: the commune and district whose reviewers are the showcase accounts (Thành phố Kon Tum)
DEMO_DISTRICT = "608"
DEMO_COMMUNE = "23281"

FAMILY_NAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "A", "Y", "Rơ Châm", "Đinh", "Hoàng", "Võ"]
GIVEN_NAMES = [
    "Văn Hùng",
    "Thị Lan",
    "Blong",
    "Hơ Nia",
    "Văn Minh",
    "Thị Hoa",
    "Thuận",
    "Văn Tú",
    "Kră",
    "Thị Mai",
    "Quang",
    "Yên",
]
#: target states of demo cases, with weights
STATE_WEIGHTS = [
    ("draft", 6),
    ("commune_review", 24),
    ("returned", 7),
    ("rejected", 3),
    ("withdrawn", 3),
    ("district_verification", 16),
    ("provincial_confirmation", 14),
    ("recognized", 27),
]

SHOWCASE_ACCOUNTS = [
    # username, role, unit code (None for the applicant), full name
    ("admin", "admin", PROVINCE, "Quản trị hệ thống"),
    ("hoikhuyenhoc", "province_officer", PROVINCE, "Hội Khuyến học tỉnh Kon Tum"),
    ("sogddt", "education_reviewer", PROVINCE, "Chuyên viên Sở GD&ĐT"),
    ("sovhttdl", "culture_reviewer", PROVINCE, "Chuyên viên Sở VHTTDL"),
    ("lanhdaotinh", "manager", PROVINCE, "Lãnh đạo tỉnh"),
    ("lanhdaohuyen", "manager", DEMO_DISTRICT, "Lãnh đạo TP Kon Tum"),
    ("huyen", "district_reviewer", DEMO_DISTRICT, "Cán bộ thẩm định TP Kon Tum"),
    ("xa", "commune_reviewer", DEMO_COMMUNE, "Cán bộ xét duyệt P. Quang Trung"),
]


def _account(username, role, unit_code, full_name, password_hash, *, subject_id=None):
    user = db.session.scalar(select(User).where(User.username == username))
    if user is not None:
        return user
    unit = db.session.get(Unit, unit_code) if unit_code else None
    user = User(
        username=username,
        role=role,
        unit_code=unit_code,
        unit_level=unit.level if unit else None,
        subject_id=subject_id,
        full_name=full_name,
        password_hash=password_hash,
        is_active_user=True,
        session_token=secrets.token_hex(8),
    )
    db.session.add(user)
    return user


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY_NAMES)} {rng.choice(GIVEN_NAMES)}"


def _subjects_for_commune(commune: Unit, rng: random.Random, households: int) -> list[Subject]:
    made = []
    communities = []
    for number in (1, 2):
        community = create_subject(
            "community",
            f"Thôn {number}, {commune.name}",
            commune.code,
            head_name=_person(rng),
            external_code=f"C{commune.code}-{number}",
        )
        communities.append(community)
        made.append(community)
    for number in range(1, households + 1):
        head = _person(rng)
        made.append(
            create_subject(
                "family",
                f"Hộ {head}",
                commune.code,
                head_name=head,
                community_id=rng.choice(communities).id,
                external_code=f"H{commune.code}-{number:03d}",
            )
        )
    family = rng.choice(FAMILY_NAMES)
    made.append(
        create_subject(
            "clan",
            f"Dòng họ {family} ({commune.name})",
            commune.code,
            head_name=f"{family} {rng.choice(GIVEN_NAMES)}",
            external_code=f"D{commune.code}",
        )
    )
    made.append(
        create_subject(
            "unit",
            f"Trường Tiểu học {commune.name}",
            commune.code,
            unit_type="school",
            external_code=f"U{commune.code}",
        )
    )
    return made


def _at(day: date, hour: int) -> datetime:
    return to_utc_naive(datetime.combine(day, time(hour, 0), tzinfo=LOCAL_TZ))


def _reviewers(case: Case) -> dict[str, User]:
    """The demo reviewers who work this case's stages."""

    def by_name(name):
        return db.session.scalar(select(User).where(User.username == name))

    return {
        "commune_reviewer": by_name(f"xa{case.commune_code}") if case.commune_code else None,
        "district_reviewer": by_name(f"huyen{case.district_code}") if case.district_code else None,
        "education_reviewer": by_name("sogddt"),
        "culture_reviewer": by_name("sovhttdl"),
    }


def _steps_for(
    target: str, entry_level: str, rng: random.Random, *, two_tier: bool = False
) -> list[tuple[str, str]]:
    """(trigger, role) steps that take a new case to ``target`` (without the district stage
    when ``two_tier``)."""
    if two_tier:
        if target == "district_verification":
            target = "provincial_confirmation"
        if entry_level == "district":
            entry_level = "province"
    # the reviewing roles before the provincial departments: commune, then district
    stages = [role for role in REVIEWER_ROLES if role not in DEPARTMENT_ROLES]
    if two_tier:
        stages = ["commune_reviewer"]
    if entry_level == "district":
        stages = ["district_reviewer"]
    elif entry_level == "province":
        stages = []
    path = [("submit", "applicant")]
    if target == "draft":
        return []
    if target == "withdrawn":
        return path + [("withdraw", "applicant")]
    if target in ("returned", "rejected"):
        role = stages[0] if stages else "education_reviewer"
        return path + [("return_to_applicant" if target == "returned" else "reject", role)]
    reach = {
        "commune_review": 0,
        "district_verification": 1,
        "provincial_confirmation": len(stages) if two_tier else 2,
        "recognized": len(stages) if two_tier else 2,
    }[target]
    if entry_level == "district":
        reach = max(0, reach - 1)
    elif entry_level == "province":
        reach = 0
    steps = list(path)
    for role in stages[:reach]:
        if rng.random() < 0.1:  # now and then a return and resubmission on the way
            steps += [("return_to_applicant", role), ("resubmit", "applicant")]
        steps.append(("approve", role))
    if target == "recognized":
        first, second = rng.sample(DEPARTMENT_ROLES, 2)
        steps += [("sign", first), ("sign", second)]
    elif target == "provincial_confirmation" and rng.random() < 0.4:
        steps.append(("sign", rng.choice(DEPARTMENT_ROLES)))
    return steps


COMMENTS = {
    "return_to_applicant": "Đề nghị bổ sung minh chứng tiêu chí 2 (học tập của người lớn).",
    "reject": "Chưa đạt điểm chuẩn theo bộ tiêu chí.",
}


def _run_case(
    subject: Subject, applicant: User, target: str, today: date, rng: random.Random
) -> None:
    registry = get_registry()
    title = subject.kind
    year = today.year
    start_day = today - timedelta(days=rng.randint(3, 150))
    if start_day.year != year:
        start_day = date(year, 1, 2) + timedelta(days=rng.randint(0, 20))
    moment = _at(start_day, 8)
    case = _self_assessed(registry, subject, title, year, applicant, moment, rng)
    reviewers = _reviewers(case)
    reviewers["applicant"] = applicant
    now_limit = _at(today, 8)
    for trigger, role in _steps_for(target, subject.managing_level, rng):
        moment += timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 6))
        if moment >= now_limit:
            break
        actor = reviewers.get(role)
        if actor is None:
            break
        try:
            fire_trigger(case.id, trigger, actor, comment=COMMENTS.get(trigger), now=moment)
        except DomainError:
            break


def _demo_commune_title(today: date) -> None:
    """The showcase commune officer's commune applying as itself ("Cộng đồng học tập cấp
    xã", TT 25/2023): entered once, its self-assessment of this year sent up a few days ago
    (to the district, or to the province in a two-tier province). Idempotent."""
    officer = db.session.scalar(select(User).where(User.username == "xa"))
    if officer is None or not officer.is_active_user:
        return
    ensure_round("commune", today.year)
    subject = db.session.scalar(
        select(Subject).where(Subject.kind == "commune", Subject.unit_code == officer.unit_code)
    )
    if subject is None:
        unit = db.session.get(Unit, officer.unit_code)
        if unit is None or unit.level != "commune" or unit.valid_to is not None:
            return
        subject = create_subject("commune", unit.name, unit.code)
    if db.session.scalar(
        select(Case.id).where(Case.subject_id == subject.id, Case.year == today.year)
    ):
        return
    started = _at(max(date(today.year, 1, 2), today - timedelta(days=8)), 8)
    case = start_case(subject.id, "commune", today.year, officer, now=started)
    cset = get_registry().criteria_set(case.criteria_set_id)
    # every indicator but the last met: the level below the top one, where it has levels
    last = cset.items[-1].code
    entries = [
        {
            "code": item.code,
            "score": (0 if item.code == last else 1)
            if cset.kind == "levels"
            else round(item.max_points * 0.9),
            "evidence": "Nghị quyết, kế hoạch và báo cáo tổng kết năm của xã.",
        }
        for item in cset.items
    ]
    save_assessment(
        case.id, entries, officer, now=started + timedelta(hours=2), level_applied=_lowest(cset)
    )
    sent = min(started + timedelta(days=2), _at(today, 7))
    fire_trigger(case.id, "submit", officer, now=sent)


def _self_assessed(registry, subject, title, year, applicant, moment, rng):
    """A case started at ``moment`` and its self-assessment saved 20 minutes later: most score
    well, some (15 %) poorly."""
    case = start_case(subject.id, title, year, applicant, now=moment)
    cset = registry.criteria_set(case.criteria_set_id)
    good = rng.random() < 0.85
    entries = [
        {
            "code": item.code,
            "score": round(
                item.max_points * (rng.uniform(0.85, 1.0) if good else rng.uniform(0.4, 0.8))
            ),
            "evidence": "Có biên bản họp thôn và ảnh minh chứng.",
        }
        for item in cset.items
    ]
    save_assessment(
        case.id, entries, applicant, now=moment + timedelta(minutes=20), level_applied=_lowest(cset)
    )
    return case


def _lowest(cset):
    """The level a demo case of a levels set applies for: the lowest (a points set: none)."""
    return cset.levels[0].code if cset.kind == "levels" else KEEP


def _demo_denominators(communes, districts, year: int) -> None:
    """Illustrative totals per commune (the demo registers only part of each commune), and the
    units each district and the province manage themselves."""
    if db.session.scalar(select(func.count()).select_from(Denominator)):
        return
    per_kind = dict(
        db.session.execute(
            select(Subject.commune_code, func.count())
            .where(Subject.kind == "family")
            .group_by(Subject.commune_code)
        ).all()
    )
    for commune in communes:
        if commune.is_dbkk:
            db.session.add(DbkkPeriod(unit_code=commune.code, from_year=2016, to_year=None))
        households = per_kind.get(commune.code)
        if not households:
            continue
        for title, count in (
            ("family", households * 2),
            ("clan", 3),
            ("community", 4),
            ("unit", 2),
        ):
            db.session.add(Denominator(unit_code=commune.code, year=year, title=title, count=count))
    for district in districts:
        db.session.add(Denominator(unit_code=district.code, year=year, title="unit", count=3))
    db.session.add(Denominator(unit_code=PROVINCE, year=year, title="unit", count=5))
    db.session.flush()


def _demo_decisions(today: date) -> None:
    """Issued decisions (with certificates) for the demo district's communes and its learning
    communities, and one draft, as the officers and leaders would have made them."""
    from htsd_workflow.decisions.models import Decision
    from htsd_workflow.decisions.operations import draft_decision, issue_decision

    if db.session.scalar(select(func.count()).select_from(Decision)):
        return
    leader = db.session.scalar(select(User).where(User.username == "lanhdaohuyen"))
    day = today - timedelta(days=2)
    communes = db.session.scalars(
        select(Unit).where(Unit.level == "commune", Unit.district_code == DEMO_DISTRICT)
    ).all()
    number = 0
    kept_draft = False
    for commune in communes:
        officer = db.session.scalar(select(User).where(User.username == f"xa{commune.code}"))
        for title in ("family", "clan"):
            decision = draft_decision(title, today.year, commune.code, officer, now=_at(day, 8))
            if not decision.entries:
                db.session.delete(decision)
                continue
            if commune.code != DEMO_COMMUNE and not kept_draft:
                kept_draft = True
                continue  # left as a draft: the leader has it to issue
            number += 1
            issue_decision(
                decision.id,
                str(number),
                day,
                "Nguyễn Văn An",
                leader,
                now=_at(day, 10),
            )
    officer = db.session.scalar(select(User).where(User.username == "huyen"))
    # the district's own decisions: its communes' learning communities, and the learning units
    # the district manages (the People's Committee of the managing level decides those)
    for number, title in enumerate(("community", "unit"), 1):
        decision = draft_decision(title, today.year, DEMO_DISTRICT, officer, now=_at(day, 8))
        if decision.entries:
            issue_decision(decision.id, str(number), day, "Trần Văn Bình", leader, now=_at(day, 10))
        else:
            db.session.delete(decision)
    db.session.flush()


def seed_demo(
    case_count: int = 2500,
    today: date | None = None,
    commune_limit: int | None = None,
    *,
    commune_title: bool = True,
) -> list[dict]:
    """Load the demo; return the showcase accounts (username, password, role, unit).

    ``commune_limit`` seeds subjects in only the first communes (tests use it);
    ``commune_title``: the showcase commune applies as itself this year (not in the years
    before a reorganisation: an old commune's own case is not carried to its successor).
    """
    today = today or date.today()
    rng = random.Random(2026)
    import_province(PROVINCE)
    probe = User(username="_", role="admin")
    probe.set_password(DEMO_PASSWORD)
    password_hash = probe.password_hash
    communes = db.session.scalars(
        select(Unit)
        .where(Unit.level == "commune", Unit.province_code == PROVINCE)
        .order_by(Unit.code)
    ).all()
    districts = db.session.scalars(
        select(Unit)
        .where(Unit.level == "district", Unit.province_code == PROVINCE)
        .order_by(Unit.code)
    ).all()
    for number, commune in enumerate(communes):
        # every fifth commune is on the especially-disadvantaged list, for the reports
        if number % 5 == 2 and not commune.is_dbkk:
            commune.is_dbkk = True
            commune.is_ethnic_minority = True
    for username, role, unit_code, full_name in SHOWCASE_ACCOUNTS:
        _account(username, role, unit_code, full_name, password_hash)
    for district in districts:
        _account(
            f"huyen{district.code}",
            "district_reviewer",
            district.code,
            f"Cán bộ thẩm định {district.name}",
            password_hash,
        )
    for commune in communes:
        _account(
            f"xa{commune.code}",
            "commune_reviewer",
            commune.code,
            f"Cán bộ xét duyệt {commune.name}",
            password_hash,
        )
    db.session.flush()

    has_subjects = db.session.scalar(select(func.count()).select_from(Subject)) > 0
    if not has_subjects:
        per_commune = max(2, case_count // max(1, len(communes)) - 4)
        for commune in communes[:commune_limit]:
            _subjects_for_commune(commune, rng, per_commune)
        for district in districts:
            create_subject(
                "unit",
                f"Phòng Giáo dục và Đào tạo {district.name}",
                district.code,
                unit_type="agency",
                external_code=f"U{district.code}",
            )
        create_subject(
            "unit",
            "Trường THPT chuyên Nguyễn Tất Thành",
            PROVINCE,
            unit_type="school",
            external_code="U62-1",
        )
        db.session.flush()
    subjects = db.session.scalars(select(Subject).order_by(Subject.id)).all()
    applicants = {}
    for subject in subjects:
        applicants[subject.id] = _account(
            f"ho{subject.id}" if subject.kind == "family" else f"nd{subject.id}",
            "applicant",
            subject.unit_code,
            subject.head_name or subject.name,
            password_hash,
            subject_id=subject.id,
        )
    # the showcase applicant: the first household of the demo commune, without a case
    showcase = next(s for s in subjects if s.kind == "family" and s.commune_code == DEMO_COMMUNE)
    applicant = db.session.scalar(select(User).where(User.username == "chuho"))
    if applicant is None:
        applicant = _account(
            "chuho",
            "applicant",
            showcase.unit_code,
            showcase.head_name,
            password_hash,
            subject_id=showcase.id,
        )
    db.session.flush()

    for title in TITLES:
        ensure_round(title, today.year)
    if db.session.scalar(select(func.count()).select_from(Case)) == 0:
        states = [s for s, _ in STATE_WEIGHTS]
        weights = [w for _, w in STATE_WEIGHTS]
        for subject in subjects:
            if subject.id == showcase.id:
                continue
            target = rng.choices(states, weights)[0]
            _run_case(subject, applicants[subject.id], target, today, rng)
        db.session.flush()
        if commune_title:
            _demo_commune_title(today)
        # the escalation ladder as the worker's scan would have applied it by this morning
        scan_sla(now=_at(today, 8))
    _demo_decisions(today)
    # the demo's past months, as the worker's nightly job would have counted them
    close_months(now=_at(today, 8))
    _demo_denominators(communes, districts, today.year)
    accounts = [
        {"username": u, "password": DEMO_PASSWORD, "role": r, "unit": c}
        for u, r, c, _ in SHOWCASE_ACCOUNTS
    ]
    accounts.append(
        {
            "username": "chuho",
            "password": DEMO_PASSWORD,
            "role": "applicant",
            "unit": f"{showcase.unit_code} ({showcase.name})",
        }
    )
    return accounts


# --- today's reality: Quảng Ngãi (51) after the 2025 reorganisation ---------------------------

#: the province the demo runs in today, and the reorganisation's first day
TODAY_PROVINCE = "51"
REFORM_DAY = date(2025, 7, 1)


def _commune_reviewer_of(code: str | None) -> User | None:
    if not code:
        return None
    return db.session.scalar(
        select(User)
        .where(
            User.role == "commune_reviewer",
            User.unit_code == code,
            User.is_active_user.is_(True),
        )
        .order_by(User.username != "xa", User.id)
    )


def seed_demo_today(
    case_count: int = 2500, today: date | None = None, commune_limit: int | None = None
) -> list[dict]:
    """Today's demo: Kon Tum's three-tier years (cases up to 30 June 2025), the reorganisation
    carried out on 1 July 2025 (``geo reform``), and this year's round on Quảng Ngãi's new
    communes, two-tier. Idempotent; returns the showcase accounts and where each works now."""
    from htsd_workflow.geography.reform import carry_out_reform

    today = today or date.today()
    rng = random.Random(2025)
    province = db.session.get(Unit, TODAY_PROVINCE)
    if province is None or province.structure != "two_tier":
        seed_demo(
            case_count,
            today=REFORM_DAY - timedelta(days=1),
            commune_limit=commune_limit,
            commune_title=False,
        )
        db.session.flush()
        carry_out_reform(TODAY_PROVINCE, REFORM_DAY, now=_at(REFORM_DAY, 7))
    for title in TITLES:
        ensure_round(title, today.year)
    this_year = db.session.scalar(
        select(func.count()).select_from(Case).where(Case.year == today.year)
    )
    subjects = db.session.scalars(
        select(Subject).where(Subject.province_code == TODAY_PROVINCE).order_by(Subject.id)
    ).all()
    showcase = db.session.scalar(select(User).where(User.username == "chuho"))
    if not this_year:
        states = [s for s, _ in STATE_WEIGHTS]
        weights = [w for _, w in STATE_WEIGHTS]
        for subject in subjects:
            if showcase is not None and subject.id == showcase.subject_id:
                continue
            applicant = db.session.scalar(
                select(User).where(User.role == "applicant", User.subject_id == subject.id)
            )
            if applicant is None:
                continue
            _run_today_case(subject, applicant, rng.choices(states, weights)[0], today, rng)
        db.session.flush()
        _demo_commune_title(today)
        scan_sla(now=_at(today, 8))
        close_months(now=_at(today, 8))
        _today_denominators(today.year)
    village_head = _demo_village()
    accounts = []
    for username, role, _unit, _name in SHOWCASE_ACCOUNTS:
        user = db.session.scalar(select(User).where(User.username == username))
        if user is None or not user.is_active_user:
            continue  # the district's reviewer: no districts since 1 July 2025
        unit = db.session.get(Unit, user.unit_code) if user.unit_code else None
        where = f"{unit.gso_code} {unit.name}" if unit else ""
        accounts.append(
            {"username": username, "password": DEMO_PASSWORD, "role": role, "unit": where}
        )
    if showcase is not None:
        unit = db.session.get(Unit, showcase.unit_code)
        accounts.append(
            {
                "username": "chuho",
                "password": DEMO_PASSWORD,
                "role": "applicant",
                "unit": f"{unit.gso_code} {unit.name}",
            }
        )
    if village_head is not None:
        unit = db.session.get(Unit, village_head.unit_code)
        village = db.session.get(Subject, village_head.subject_id)
        accounts.append(
            {
                "username": village_head.username,
                "password": DEMO_PASSWORD,
                "role": "village_head",
                "unit": f"{unit.gso_code} {unit.name} ({village.name})",
            }
        )
    return accounts


#: the demo's village whose round has not started: its households are not registered yet
DEMO_VILLAGE_CODE = "TDP9-DEMO"
DEMO_VILLAGE_HOUSEHOLDS = 30


def _demo_village() -> User | None:
    """A village of the demo commune with 30 households none registered this year, and its
    head ``truongthon``: the annual round from registration to "Gửi" (idempotent)."""
    officer = db.session.scalar(select(User).where(User.username == "xa"))
    if officer is None or not officer.is_active_user:
        return None
    head = db.session.scalar(select(User).where(User.username == "truongthon"))
    if head is not None:
        return head
    rng = random.Random(9)
    village = db.session.scalar(
        select(Subject).where(Subject.external_code == DEMO_VILLAGE_CODE)
    ) or create_subject(
        "community",
        "Tổ dân phố 9",
        officer.unit_code,
        head_name="Y Blong",
        external_code=DEMO_VILLAGE_CODE,
    )
    for number in range(1, DEMO_VILLAGE_HOUSEHOLDS + 1):
        name = _person(rng)
        create_subject(
            "family",
            f"Hộ {name}",
            officer.unit_code,
            head_name=name,
            community_id=village.id,
            external_code=f"{DEMO_VILLAGE_CODE}-{number:02d}",
        )
    probe = User(username="_", role="admin")
    probe.set_password(DEMO_PASSWORD)
    head = _account(
        "truongthon",
        "village_head",
        officer.unit_code,
        "Trưởng tổ dân phố 9",
        probe.password_hash,
        subject_id=village.id,
    )
    db.session.flush()
    return head


def _run_today_case(subject, applicant, target, today, rng) -> None:
    """A case of this year's round, two-tier, back-dated like ``_run_case``."""
    registry = get_registry()
    start_day = today - timedelta(days=rng.randint(3, 150))
    if start_day.year != today.year:
        start_day = date(today.year, 1, 2) + timedelta(days=rng.randint(0, 20))
    moment = _at(start_day, 8)
    case = _self_assessed(registry, subject, subject.kind, today.year, applicant, moment, rng)
    reviewers = {
        "applicant": applicant,
        "commune_reviewer": _commune_reviewer_of(case.commune_code),
        "education_reviewer": db.session.scalar(select(User).where(User.username == "sogddt")),
        "culture_reviewer": db.session.scalar(select(User).where(User.username == "sovhttdl")),
    }
    now_limit = _at(today, 8)
    for trigger, role in _steps_for(target, subject.managing_level, rng, two_tier=True):
        moment += timedelta(days=rng.randint(1, 9), hours=rng.randint(0, 6))
        if moment >= now_limit:
            break
        actor = reviewers.get(role)
        if actor is None:
            break
        try:
            fire_trigger(case.id, trigger, actor, comment=COMMENTS.get(trigger), now=moment)
        except DomainError:
            break


def _today_denominators(year: int) -> None:
    """This year's totals for the new communes that have subjects (the others stay missing,
    as the targets report says)."""
    per_commune = dict(
        db.session.execute(
            select(Subject.commune_code, func.count())
            .where(Subject.kind == "family", Subject.province_code == TODAY_PROVINCE)
            .group_by(Subject.commune_code)
        ).all()
    )
    for code, households in per_commune.items():
        if code is None:
            continue
        for title, count in (("family", households * 2), ("clan", 3), ("community", 4)):
            exists = db.session.scalar(
                select(Denominator.id).where(
                    Denominator.unit_code == code,
                    Denominator.year == year,
                    Denominator.title == title,
                )
            )
            if exists is None:
                db.session.add(Denominator(unit_code=code, year=year, title=title, count=count))
    db.session.flush()
