"""Reports before, after and across the reform: the units that existed in the period."""

from __future__ import annotations

from datetime import datetime

from htsd_workflow.api.framework import issue_token
from htsd_workflow.auth.models import User
from htsd_workflow.cases.operations import fire_trigger
from htsd_workflow.extensions import db
from htsd_workflow.reports.models import Denominator
from htsd_workflow.reports.operations import areas_for
from htsd_workflow.reports.queries import (
    bottlenecks,
    longest_waiting,
    parse_filters,
    targets,
    weekly_trend,
)
from tests.factories import Factory

QUANG_TRUNG, KON_TUM_CITY = "23281", "608"
IN_2024 = datetime(2024, 10, 1, 3, 0)  # 10:00 in Kon Tum


def run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def communes(data) -> set[str]:
    return {r["unit_code"] for r in data["rows"] if r["level"] == "commune"}


def recognised(data, code) -> int:
    return sum(r["recognized"] for r in data["rows"] if r["unit_code"] == code)


def test_targets_read_old_units_before_new_after_and_both_across(fresh):
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    make = Factory()
    case, _ = make.case_in("provincial_confirmation", unit=QUANG_TRUNG, now=IN_2024)
    fire_trigger(case.id, "sign", make.reviewer("education_reviewer", "62"), now=IN_2024)
    fire_trigger(case.id, "sign", make.reviewer("culture_reviewer", "62"), now=IN_2024)
    manager = make.user("manager", KON_TUM_CITY)
    head = make.user("manager", "62")
    db.session.commit()
    result = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert result.exit_code == 0, result.output
    head, manager = db.session.get(User, head.id), db.session.get(User, manager.id)
    assert head.unit_code == "51" and manager.is_active_user  # a manager keeps reading

    before = targets(head, year=2024)
    assert QUANG_TRUNG in communes(before) and "23293.2025" not in communes(before)
    assert recognised(before, QUANG_TRUNG) == 1 and before["reform_day"] is None
    assert len(communes(before)) == 102  # Kon Tum's old communes, read from today's province

    after = targets(head, year=2026)
    assert "23293.2025" in communes(after) and QUANG_TRUNG not in communes(after)
    assert len(communes(after)) == 96 and after["reform_day"] is None
    assert not any(r["unit_code"] is None for r in after["rows"])

    across = targets(head, year=2025)
    assert {QUANG_TRUNG, "23293.2025"} <= communes(across)
    assert across["reform_day"] == "2025-07-01"

    # time in stage: Kon Tum's old districts' rows for 2024, read from today's province
    old_rows = bottlenecks(head, parse_filters({"from": "2024-01-01", "to": "2024-12-31"}))
    assert KON_TUM_CITY in {r["unit_code"] for r in old_rows["rows"]}
    assert old_rows["reform_day"] is None
    spanning = bottlenecks(head, parse_filters({"from": "2025-01-01", "to": "2025-12-31"}))
    assert spanning["reform_day"] == "2025-07-01"

    # the old district's manager still reads its district's history
    district = targets(manager, year=2024)
    assert QUANG_TRUNG in communes(district) and recognised(district, QUANG_TRUNG) == 1


def test_denominator_areas_are_the_units_of_the_year(fresh):
    """The new communes need their own figures from 2025; the old ones keep theirs before."""
    assert run(fresh, "geo", "import", "--province", "51", "--before-2025").exit_code == 0
    assert (
        run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01").exit_code == 0
    )
    admin = Factory().user("admin", "51")
    old = {a.unit.code for a in areas_for(admin, 2024) if a.unit.level == "commune"}
    new = {a.unit.code for a in areas_for(admin, 2026) if a.unit.level == "commune"}
    assert len(old) == 170 and "21025" in old and "21025.2025" not in old
    assert len(new) == 96 and "21025.2025" in new and not old & new


IN_2026 = datetime(2026, 3, 2, 3, 0)  # a Monday, 10:00 in Kon Tum
NEW_KON_TUM = "23293.2025"


def arrivals(weeks) -> int:
    return sum(w["arrived"] for w in weeks)


def test_trend_and_longest_waiting_before_after_and_across(fresh):
    """The weekly trend and the longest-waiting list read old units for a period before the
    reform, new ones after it, and a period that spans it says so."""
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    make = Factory()
    finished, _ = make.case_in("commune_review", unit=QUANG_TRUNG, now=IN_2024)
    fire_trigger(
        finished.id,
        "reject",
        make.reviewer("commune_reviewer", QUANG_TRUNG),
        comment="Không",
        now=IN_2024,
    )
    running, _ = make.case_in("commune_review", unit=QUANG_TRUNG, now=IN_2024)
    manager = make.user("manager", KON_TUM_CITY)
    db.session.commit()
    result = run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01")
    assert result.exit_code == 0, result.output
    head = make.user("manager", "51")
    today, _ = make.case_in("commune_review", unit=NEW_KON_TUM, now=IN_2026)
    manager = db.session.get(User, manager.id)

    def trend(user, start, end, unit=""):
        return weekly_trend(user, parse_filters({"from": start, "to": end, "unit": unit}))

    def completions(weeks):
        return sum(w["completed"] for w in weeks)

    # before: Kon Tum's cases, read from today's province; the finished one under its old
    # commune and district (a running one is counted where it is now: its stay goes on)
    before = trend(head, "2024-09-01", "2024-12-31")
    assert (arrivals(before), completions(before)) == (2, 1)
    assert not any(w["is_reform"] for w in before)
    assert completions(trend(head, "2024-09-01", "2024-12-31", QUANG_TRUNG)) == 1
    assert completions(trend(head, "2024-09-01", "2024-12-31", KON_TUM_CITY)) == 1
    assert completions(trend(manager, "2024-09-01", "2024-12-31")) == 1  # the district's history
    assert completions(trend(head, "2024-09-01", "2024-12-31", NEW_KON_TUM)) == 0
    # after: today's case under today's commune
    after = trend(head, "2026-01-01", "2026-06-30")
    assert arrivals(after) == 1 and not any(w["is_reform"] for w in after)
    assert arrivals(trend(head, "2026-01-01", "2026-06-30", NEW_KON_TUM)) == 1
    assert arrivals(trend(head, "2026-01-01", "2026-06-30", QUANG_TRUNG)) == 0
    # across: the week of 1 July 2025 is marked, on the page too
    across = trend(head, "2025-06-01", "2025-07-31")
    assert [w["week"] for w in across if w["is_reform"]] == ["2025-06-30"]

    # the longest-waiting list: the cases open now, under the units they are in now (the
    # carried case under today's commune), whatever the period
    for start, end in (("2024-01-01", "2024-12-31"), ("2025-01-01", "2025-12-31")):
        waiting = longest_waiting(head, parse_filters({"from": start, "to": end}))
        assert [c.id for c in waiting] == [running.id, today.id]
    assert {c.commune_code for c in waiting} == {NEW_KON_TUM}
    assert longest_waiting(manager, parse_filters({})) == []  # nothing waits at a closed district
    by_commune = longest_waiting(head, parse_filters({"unit": NEW_KON_TUM}))
    assert [c.id for c in by_commune] == [running.id, today.id]

    client = fresh.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = head.get_id()
        session["_fresh"] = True
    page = client.get("/reports/bottlenecks/trend?from=2025-06-01&to=2025-07-31")
    assert page.status_code == 200
    assert "Kỳ báo cáo có sắp xếp đơn vị hành chính (tuần bắt đầu 30/06/2025)" in page.text
    page = client.get("/reports/bottlenecks/trend?from=2026-01-01&to=2026-06-30")
    assert "sắp xếp đơn vị hành chính" not in page.text


def test_targets_name_the_new_communes_without_their_own_denominators(fresh):
    """After the reform the new communes need their own figures: the report says which."""
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    make = Factory()
    db.session.add(Denominator(unit_code=QUANG_TRUNG, year=2024, title="family", count=900))
    db.session.commit()
    assert (
        run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01").exit_code == 0
    )
    db.session.add(Denominator(unit_code=NEW_KON_TUM, year=2026, title="family", count=5000))
    head = make.user("manager", "51")
    db.session.commit()

    before = targets(head, year=2024, title="family")
    missing = {m["unit_code"]: m for m in before["missing_denominators"]}
    assert QUANG_TRUNG not in missing and len(missing) == 101  # Kon Tum's other old communes
    assert all(m["formed_on"] is None for m in missing.values())

    after = targets(head, year=2026, title="family")
    missing = {m["unit_code"]: m for m in after["missing_denominators"]}
    assert NEW_KON_TUM not in missing and len(missing) == 95
    assert {m["formed_on"] for m in missing.values()} == {"2025-07-01"}
    assert all(m["titles"] == ["family"] for m in missing.values())

    client = fresh.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = head.get_id()
        session["_fresh"] = True
    page = client.get("/reports/targets?year=2026&title=family")
    assert page.status_code == 200
    assert "Chưa có số liệu tổng số (mẫu số) năm 2026 của 95 xã" in page.text
    assert "95 xã mới hình thành sau sắp xếp đơn vị hành chính" in page.text
    assert (
        "mới từ 01/07/2025" in page.text and 'href="/reports/denominators?year=2026"' in page.text
    )
    token, _row = issue_token(head)
    db.session.commit()
    answer = client.get(
        "/api/v1/reports/targets?year=2026&title=family",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    assert len(answer.json["missing_denominators"]) == 95
    assert answer.json["reform_day"] is None


def test_report_filters_offer_the_units_of_the_period(fresh):
    """The unit picker of a report lists the units that existed in its period."""
    assert run(fresh, "geo", "import", "--province", "62").exit_code == 0
    assert (
        run(fresh, "geo", "reform", "--province", "51", "--effective", "2025-07-01").exit_code == 0
    )
    head = Factory().user("manager", "51")
    db.session.commit()
    client = fresh.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = head.get_id()
        session["_fresh"] = True

    def offered(url) -> tuple[bool, bool, bool]:
        page = client.get(url)
        assert page.status_code == 200
        return (
            f'value="{QUANG_TRUNG}"' in page.text,
            f'value="{KON_TUM_CITY}"' in page.text,
            f'value="{NEW_KON_TUM}"' in page.text,
        )

    # before: Kon Tum's old district and commune (read from today's province), not today's
    assert offered("/reports/bottlenecks?from=2024-01-01&to=2024-12-31") == (True, True, False)
    assert offered("/reports/targets?year=2024") == (True, True, False)
    # after: today's commune only
    assert offered("/reports/bottlenecks?from=2026-01-01&to=2026-06-30") == (False, False, True)
    assert offered("/reports/targets?year=2026") == (False, False, True)
    # across: both
    assert offered("/reports/bottlenecks?from=2025-01-01&to=2025-12-31") == (True, True, True)
