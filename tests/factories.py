"""Factories: users, subjects and cases in a known state, made through the real operations."""

from __future__ import annotations

import itertools
from datetime import datetime

from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import create_user
from htsd_workflow.cases.assessment import KEEP
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import fire_trigger, save_assessment, start_case
from htsd_workflow.extensions import db
from htsd_workflow.subjects.operations import create_subject

#: Thành phố Kon Tum (608) with two of its wards, and Đắk Hà (615) with one commune
DISTRICT = "608"
COMMUNE = "23281"  # Phường Quang Trung
OTHER_COMMUNE_SAME_DISTRICT = "23284"
OTHER_DISTRICT = "615"
COMMUNE_IN_OTHER_DISTRICT = "23500"
PROVINCE = "62"
PASSWORD = "s3cret-pass"

_counter = itertools.count(1)

#: the role that works each stage
STAGE_ROLE = {
    "commune_review": "commune_reviewer",
    "district_verification": "district_reviewer",
}


class Factory:
    def __init__(self):
        self._users: dict[tuple, User] = {}

    def user(self, role: str, unit: str | None = None, *, subject_id=None, **kw) -> User:
        number = next(_counter)
        if unit is None and role != "applicant":
            unit = {
                "commune_reviewer": COMMUNE,
                "district_reviewer": DISTRICT,
            }.get(role, PROVINCE)
        user = create_user(
            f"{role}{number}", PASSWORD, role, unit_code=unit, subject_id=subject_id, **kw
        )
        db.session.commit()
        return user

    def reviewer(self, role: str, unit: str | None = None) -> User:
        """One shared reviewer per role and unit, for stories that need 'the' reviewer."""
        key = (role, unit)
        if key not in self._users:
            self._users[key] = self.user(role, unit)
        return self._users[key]

    def subject(self, kind: str = "family", unit: str = COMMUNE, name: str | None = None, **kw):
        number = next(_counter)
        subject = create_subject(kind, name or f"Hộ Nguyễn Văn {number}", unit, **kw)
        db.session.commit()
        return subject

    def applicant(self, subject) -> User:
        return self.user("applicant", subject_id=subject.id)

    def draft(
        self,
        kind: str = "family",
        unit: str = COMMUNE,
        *,
        complete: bool = True,
        year: int | None = None,
        name: str | None = None,
        now: datetime | None = None,
    ):
        """A new case in draft with (by default) a complete, passing self-assessment."""
        subject = self.subject(kind, unit, name=name)
        applicant = self.applicant(subject)
        year = year or (now or datetime.now()).year
        case = start_case(subject.id, kind, year, applicant, now=now)
        if complete:
            self.fill(case, applicant, now=now)
        db.session.commit()
        return case, applicant

    def fill(self, case: Case, applicant: User, *, fraction: float = 1.0, now=None) -> None:
        cset = get_registry().criteria_set(case.criteria_set_id)
        entries = [
            {"code": i.code, "score": round(i.max_points * fraction, 1), "evidence": "ok"}
            for i in cset.items
        ]
        # a levels set: the lowest level applied for (required before submitting)
        applied = cset.levels[0].code if cset.kind == "levels" else KEEP
        save_assessment(case.id, entries, applicant, now=now, level_applied=applied)

    def case_in(
        self,
        state: str,
        kind: str = "family",
        unit: str = COMMUNE,
        *,
        now=None,
        name: str | None = None,
    ):
        """A case driven through the workflow to ``state``; returns (case, applicant)."""
        case, applicant = self.draft(kind, unit, now=now, name=name)
        path = {
            "draft": [],
            "commune_review": [("submit", applicant)],
            "district_verification": [("submit", applicant), ("approve", "commune_reviewer")],
            "provincial_confirmation": [
                ("submit", applicant),
                ("approve", "commune_reviewer"),
                ("approve", "district_reviewer"),
            ],
        }[state]
        for trigger, actor in path:
            if isinstance(actor, str):
                unit_for = {
                    "commune_reviewer": case.commune_code,
                    "district_reviewer": case.district_code,
                }[actor]
                actor = self.reviewer(actor, unit_for)
            fire_trigger(case.id, trigger, actor, now=now)
        db.session.commit()
        return db.session.get(Case, case.id), applicant
