"""Property tests (hypothesis) on every form and every filter: whatever is typed, the answer is a
page (2xx), a redirect (3xx) or a clear refusal (4xx) — never a 500 — and a refused form leaves
the data exactly as it was (nothing half-saved, nothing lost).

Inputs mix random Unicode with the values that break programs: empty, blanks, NUL, huge numbers,
numbers in other scripts ("²", "١٢"), decimals with commas, infinities, formulas, markup and SQL.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.roles import ROLES
from htsd_workflow.cases.models import AssessmentItem, Case, CaseEvent
from htsd_workflow.extensions import db, limiter
from tests.clients import Browser
from tests.factories import COMMUNE, DISTRICT

NASTY = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "12,5",
    "²",
    "١٢",
    "2026²",
    "9" * 40,
    "1e309",
    "NaN",
    "Infinity",
    "=cmd|' /C calc'!A0",
    "+SUM(A1:A9)",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "%_\\",
    "a\x00b",
    "Hộ Nguyễn Văn Ánh",
    "x" * 5000,
    "../../etc/passwd",
    "23281",
    "62",
]

#: a typed value: a known troublemaker or any Unicode text (surrogates cannot travel in a form)
typed = st.one_of(
    st.sampled_from(NASTY),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=60),
)

FORM_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def fine(response) -> bool:
    return response.status_code < 500


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def scores_of(case_id: int) -> dict:
    db.session.expire_all()
    return dict(
        db.session.execute(
            select(AssessmentItem.code, AssessmentItem.score).where(
                AssessmentItem.case_id == case_id
            )
        ).all()
    )


@FORM_SETTINGS
@given(username=typed, password=typed, next_url=typed)
def test_login_form(ctx, username, password, next_url):
    limiter.reset()
    browser = Browser(ctx.test_client())
    response = browser.client.post(
        "/login?next=" + next_url.replace("\x00", ""),
        data={"username": username, "password": password, "csrf_token": browser.token()},
    )
    assert fine(response), (username, password)
    assert response.status_code in (302, 400, 401, 429) or response.status_code == 200


@FORM_SETTINGS
@given(current=typed, new=typed, confirm=typed, same=st.booleans())
def test_change_password_form(ctx, make, as_user, current, new, confirm, same):
    user = make.user("commune_reviewer", COMMUNE)
    before = user.password_hash
    response = as_user(user).post(
        "/account/password",
        {"current_password": current, "new_password": new, "confirm": new if same else confirm},
    )
    assert fine(response)
    db.session.expire_all()
    assert db.session.get(User, user.id).password_hash == before  # never the right password


@FORM_SETTINGS
@given(
    username=typed,
    full_name=typed,
    email=typed,
    phone=typed,
    role=st.one_of(st.sampled_from(ROLES), typed),
    unit=st.one_of(st.sampled_from(["62", DISTRICT, COMMUNE]), typed),
    subject_id=typed,
    password=typed,
)
def test_admin_user_forms(
    ctx, make, as_user, username, full_name, email, phone, role, unit, subject_id, password
):
    admin = make.reviewer("admin", "62")
    target = make.reviewer("commune_reviewer", COMMUNE)
    browser = as_user(admin)
    form = {
        "username": username,
        "full_name": full_name,
        "email": email,
        "phone": phone,
        "role": role,
        "unit_code": unit,
        "subject_id": subject_id,
        "password": password,
    }
    users_before = count(User)
    created = browser.post("/admin/users/new", form)
    assert fine(created)
    users_after = count(User)
    assert users_after == users_before + (created.status_code in (200, 302))

    snapshot = (target.role, target.unit_code, target.full_name, target.email, target.phone)
    changed = browser.post(f"/admin/users/{target.id}", form)
    assert fine(changed)
    db.session.expire_all()
    again = db.session.get(User, target.id)
    if changed.status_code >= 400:
        assert (again.role, again.unit_code, again.full_name, again.email, again.phone) == (
            snapshot
        )


@FORM_SETTINGS
@given(
    scores=st.dictionaries(st.sampled_from(["1.1", "1.2", "2", "3", "4", "9.9"]), typed),
    evidence=typed,
    version=typed,
    action=st.sampled_from(["save", "send", "", "other"]),
)
def test_assessment_form(ctx, make, as_user, scores, evidence, version, action):
    case, applicant = make.draft(complete=False)
    before = scores_of(case.id)
    data = {"version": version, "action": action}
    for code, score in scores.items():
        data[f"score-{code}"] = score
        data[f"evidence-{code}"] = evidence
    response = as_user(applicant).post(f"/cases/{case.id}/assessment", data)
    assert fine(response)
    db.session.expire_all()
    if response.status_code >= 400 and action != "send":
        assert scores_of(case.id) == before  # a refused form saves nothing
    if response.status_code >= 400 and action == "send":
        # "send" keeps a valid draft (the page says so) but the case is not sent
        assert db.session.get(Case, case.id).state == "draft"


@FORM_SETTINGS
@given(
    trigger=st.one_of(
        st.sampled_from(["approve", "return_to_applicant", "reject", "withdraw", "sign"]), typed
    ),
    comment=typed,
    version=typed,
    back=typed,
)
def test_transition_forms(ctx, make, as_user, trigger, comment, version, back):
    case, _ = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    events = count(CaseEvent, CaseEvent.case_id == case.id)
    response = as_user(reviewer).post(
        f"/cases/{case.id}/actions",
        {"trigger": trigger, "comment": comment, "version": version, "back": back},
    )
    assert fine(response)
    db.session.expire_all()
    after = count(CaseEvent, CaseEvent.case_id == case.id)
    state = db.session.get(Case, case.id).state
    if response.status_code == 302:
        assert after == events + 1 and state != "commune_review"
    else:
        assert after == events and state == "commune_review"


@FORM_SETTINGS
@given(review=st.dictionaries(st.sampled_from(["1.1", "2", "4", "zz"]), typed), note=typed)
def test_review_score_form(ctx, make, as_user, review, note):
    case, _ = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    data = {}
    for code, score in review.items():
        data[f"review-{code}"] = score
        data[f"note-{code}"] = note
    events = count(CaseEvent, CaseEvent.case_id == case.id)
    response = as_user(reviewer).post(f"/cases/{case.id}/scores", data)
    assert fine(response)
    if response.status_code >= 400:
        assert count(CaseEvent, CaseEvent.case_id == case.id) == events


@FORM_SETTINGS
@given(
    ids=st.lists(typed, max_size=4),
    trigger=st.one_of(st.sampled_from(["approve", "return_to_applicant"]), typed),
    comment=typed,
    selection=st.sampled_from(["selected", "filter", "x"]),
    state=typed,
)
def test_bulk_form(ctx, make, as_user, ids, trigger, comment, selection, state):
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    response = as_user(reviewer).client.post(
        "/queue/bulk",
        data={
            "case_id": ids,
            "trigger": trigger,
            "comment": comment,
            "selection": selection,
            "state": state,
            "csrf_token": as_user(reviewer).token(),
        },
    )
    assert fine(response)


@FORM_SETTINGS
@given(year=typed, lang=typed, next_url=typed)
def test_start_and_language_forms(ctx, make, as_user, year, lang, next_url):
    subject = make.subject()
    household = as_user(make.applicant(subject))
    started = household.post("/my/cases", {"year": year})
    assert fine(started)
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    on_behalf = officer.post(f"/subjects/{subject.id}/cases", {"year": year})
    assert fine(on_behalf)
    switched = household.post("/language", {"lang": lang, "next": next_url})
    assert fine(switched)
    assert switched.status_code in (302, 400)


#: every page with a search box or filters, and the arguments it reads
FILTERED_PAGES = {
    "commune_reviewer": [
        ("/search", ["q"]),
        ("/queue", ["title", "district", "commune", "state", "overdue", "claim", "order"]),
        ("/queue", ["after", "before", "unsigned"]),
        ("/notifications", ["before"]),
    ],
    "admin": [
        ("/admin/users", ["q", "role", "after"]),
        ("/admin/audit", ["action", "username", "before"]),
        ("/overview", ["year"]),
        ("/reports/bottlenecks", ["year", "title", "district", "level", "format", "print"]),
        ("/reports/bottlenecks", ["from", "to", "title", "unit", "stage", "table", "format"]),
        ("/reports/bottlenecks/trend", ["from", "to", "title", "unit", "stage"]),
        ("/reports/targets", ["year", "title", "unit", "format", "print"]),
    ],
}


@pytest.mark.parametrize("role", sorted(FILTERED_PAGES))
@FORM_SETTINGS
@given(data=st.data())
def test_search_and_filters(ctx, make, as_user, role, data):
    unit = COMMUNE if role == "commune_reviewer" else "62"
    browser = as_user(make.reviewer(role, unit))
    for path, names in FILTERED_PAGES[role]:
        args = {name: data.draw(typed, label=f"{path}?{name}") for name in names}
        response = browser.client.get(path, query_string=args)
        assert fine(response), (path, args)
