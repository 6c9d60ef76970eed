"""The queue's statements, made once per filter shape, against a plain reading of the cases.

One district's cases (two communes, two titles, due dates with ties, some overdue, some claimed
by the reviewer or a colleague) are made once per test; hypothesis then draws filters, orders
and page sizes, and every answer of ``queue_page`` (walked forwards, and back from each page),
``count_matching`` and ``matching_ids`` must be what filtering and sorting the cases in Python
gives. A statement cached for one shape and reused for another, or a cursor compared the wrong
way, shows as a difference.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import claim_case
from htsd_workflow.core.time import utcnow
from htsd_workflow.extensions import db
from htsd_workflow.queues.queries import (
    QueueFilter,
    count_matching,
    encode_cursor,
    matching_ids,
    queue_page,
)
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT

#: days from now to each case's deadline (ties on purpose; negative: overdue)
DUE_DAYS = [-3, -3, -1, 0.5, 2, 2, 2, 5, 9, 9]


def _population(make):
    now = utcnow().replace(microsecond=0)
    reviewer = make.reviewer("district_reviewer", DISTRICT)
    colleague = make.user("district_reviewer", DISTRICT)
    for n, days in enumerate(DUE_DAYS):
        kind = "family" if n % 3 else "clan"
        unit = COMMUNE if n % 2 else OTHER_COMMUNE_SAME_DISTRICT
        case, _applicant = make.case_in("district_verification", kind, unit)
        db.session.execute(
            update(Case).where(Case.id == case.id).values(due_at=now + timedelta(days=days))
        )
        db.session.commit()
        if n % 4 == 1:
            claim_case(case.id, reviewer)
        elif n % 4 == 2:
            claim_case(case.id, colleague)
        db.session.commit()
    cases = db.session.scalars(
        select(Case).where(Case.state == "district_verification", Case.district_code == DISTRICT)
    ).all()
    return reviewer, now, cases


def _expected(cases, queue_filter: QueueFilter, me, now) -> list[int]:
    def matches(case) -> bool:
        return (
            (not queue_filter.title or case.title == queue_filter.title)
            and (not queue_filter.commune or case.commune_code == queue_filter.commune)
            and (not queue_filter.overdue or case.due_at < now)
            and (queue_filter.claim != "mine" or case.claimed_by_id == me.id)
            and (queue_filter.claim != "free" or case.claimed_by_id is None)
        )

    chosen = sorted((c for c in cases if matches(c)), key=lambda c: (c.due_at, c.id))
    if queue_filter.order == "-due":
        chosen.reverse()
    return [c.id for c in chosen]


filters = st.builds(
    QueueFilter,
    title=st.sampled_from(["", "family", "clan"]),
    commune=st.sampled_from(["", COMMUNE, OTHER_COMMUNE_SAME_DISTRICT]),
    overdue=st.booleans(),
    claim=st.sampled_from(["", "mine", "free"]),
    order=st.sampled_from(["due", "-due"]),
)


def test_every_filter_shape_pages_counts_and_selects_what_a_plain_reading_gives(make):
    reviewer, now, cases = _population(make)
    assert len(cases) == len(DUE_DAYS)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(queue_filter=filters, size=st.integers(min_value=1, max_value=4))
    def check(queue_filter, size):
        expected = _expected(cases, queue_filter, reviewer, now)
        assert count_matching(reviewer, queue_filter, now) == len(expected)
        ascending = expected if queue_filter.order == "due" else expected[::-1]
        assert matching_ids(reviewer, queue_filter, now, 100) == ascending
        assert matching_ids(reviewer, queue_filter, now, 2) == ascending[:2]

        walked, pages, cursor = [], [], None
        while True:
            page = queue_page(reviewer, queue_filter, now, after=cursor, size=size)
            pages.append(page)
            walked += [row.id for row in page.rows]
            assert len(page.rows) <= size
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert walked == expected

        # back from each page's first row: the rows just before it, in the order shown
        by_id = {c.id: c for c in cases}
        start = 0
        for page in pages:
            if page.rows:
                first = by_id[page.rows[0].id]
                back = queue_page(
                    reviewer,
                    queue_filter,
                    now,
                    before=encode_cursor(first.due_at, first.id),
                    size=size,
                )
                assert [row.id for row in back.rows] == expected[max(0, start - size) : start]
                start += len(page.rows)

    check()


def test_a_user_with_no_stage_to_review_has_an_empty_queue(make, monkeypatch):
    reviewer, now, cases = _population(make)
    monkeypatch.setattr("htsd_workflow.queues.queries.queue_states", lambda user: [])
    assert count_matching(reviewer, QueueFilter(), now) == 0
    assert queue_page(reviewer, QueueFilter(), now, size=3).rows == []
    assert matching_ids(reviewer, QueueFilter(), now, 10) == []


def _recognised_in(case, years) -> None:
    """Earlier cases of the same household and title, recognised in ``years`` (or, for a year
    given negative, rejected)."""
    from sqlalchemy import insert

    row = {c.name: getattr(case, c.key) for c in Case.__table__.columns if c.name != "id"}
    for year in years:
        state = "recognized" if year > 0 else "rejected"
        db.session.execute(insert(Case).values({**row, "year": abs(year), "state": state}))
    db.session.commit()


def test_the_queue_filters_by_years_recognised_in_a_row(make, as_user):
    reviewer = make.reviewer("district_reviewer", DISTRICT)
    three, _ = make.case_in("district_verification")
    one, _ = make.case_in("district_verification")
    broken, _ = make.case_in("district_verification")
    never, _ = make.case_in("district_verification")
    year = three.year
    _recognised_in(three, [year - 1, year - 2, year - 3])
    _recognised_in(one, [year - 1])
    _recognised_in(broken, [year - 1, -(year - 2), year - 3])  # the chain broke two years ago
    now = utcnow()
    found = {
        n: set(matching_ids(reviewer, QueueFilter(in_a_row=n), now, 100)) for n in (0, 1, 2, 3)
    }
    assert found[0] == {three.id, one.id, broken.id, never.id}
    assert found[1] == {three.id, one.id, broken.id}
    assert found[2] == found[3] == {three.id}
    assert count_matching(reviewer, QueueFilter(in_a_row=2), now) == 1
    assert QueueFilter.from_args({"in_a_row": "3"}).in_a_row == 3
    assert QueueFilter.from_args({"in_a_row": "99"}).in_a_row == 0  # beyond the choices
    page = as_user(reviewer).get("/queue?in_a_row=2").get_data(as_text=True)
    assert "Ít nhất 2 năm liền" in page and f"HS-{three.id}" in page
    assert f"HS-{one.id}" not in page
