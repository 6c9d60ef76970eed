"""The audit log: sign-ins (failures too), sign-outs and every admin action are written with the
change they record, shown to the admins of the province, and never editable."""

from __future__ import annotations

import io
import re
from datetime import date, datetime

import pytest
from sqlalchemy import select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.audit.operations import audit_entries, record_audit
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import create_user
from htsd_workflow.extensions import db, limiter
from htsd_workflow.geography.operations import import_province
from htsd_workflow.imports.operations import run_import
from htsd_workflow.imports.specs import SPECS
from htsd_workflow.reports.operations import import_denominators
from htsd_workflow.sla.operations import extend_deadline
from tests.clients import Browser, text
from tests.factories import COMMUNE, PASSWORD

MONDAY = datetime(2026, 12, 7, 2)  # 09:00 local


def entries(**where) -> list[AuditEntry]:
    statement = select(AuditEntry).order_by(AuditEntry.id)
    for key, value in where.items():
        statement = statement.where(getattr(AuditEntry, key) == value)
    return list(db.session.scalars(statement))


def signed_out(ctx) -> Browser:
    limiter.reset()
    return Browser(ctx.test_client())


def login(browser: Browser, username: str, password: str):
    return browser.post("/login", {"username": username, "password": password})


def test_sign_ins_failures_and_sign_outs_are_logged_without_the_password(ctx, make):
    user = make.user("commune_reviewer", COMMUNE)
    locked = make.user("commune_reviewer", COMMUNE)
    locked.is_active_user = False
    db.session.commit()
    browser = signed_out(ctx)
    assert login(browser, user.username, "sai-mat-khau-123").status_code == 401
    assert login(browser, "khong-co-ai", "mat-khau-bi-mat-9").status_code == 401
    assert login(browser, locked.username, PASSWORD).status_code == 401
    assert login(browser, user.username, PASSWORD).status_code == 302
    assert browser.post("/logout").status_code == 302

    logged = [
        (e.action, e.username, (e.details or {}).get("reason"), e.ip)
        for e in entries()
        if e.action in ("login_ok", "login_failed", "logout")
    ]
    assert logged == [
        ("login_failed", user.username, "wrong_password", "127.0.0.1"),
        ("login_failed", "khong-co-ai", "unknown_user", "127.0.0.1"),
        ("login_failed", locked.username, "locked", "127.0.0.1"),
        ("login_ok", user.username, None, "127.0.0.1"),
        ("logout", user.username, None, "127.0.0.1"),
    ]
    ok = entries(action="login_ok")[0]
    assert ok.actor_id == user.id and ok.province_code == "62"
    assert entries(action="login_failed")[0].actor_id is None  # a failure proves no identity
    everything = repr([(e.username, e.target, e.details) for e in entries()])
    for password in (PASSWORD, "sai-mat-khau-123", "mat-khau-bi-mat-9"):
        assert password not in everything


def test_api_token_requests_are_logged(ctx, make):
    user = make.user("commune_reviewer", COMMUNE)
    client = ctx.test_client()
    limiter.reset()
    refused = client.post("/api/v1/auth/token", json={"username": user.username, "password": "x"})
    assert refused.status_code == 401
    issued = client.post(
        "/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}
    )
    assert issued.status_code == 201
    actions = [(e.action, e.username) for e in entries() if e.action.startswith("api_token")]
    assert actions == [
        ("api_token_refused", user.username),
        ("api_token_issued", user.username),
    ]


def test_every_admin_action_on_accounts_is_logged_with_the_admin(ctx, make, as_user):
    admin = make.user("admin", "62")
    browser = as_user(admin)
    created = browser.post(
        "/admin/users/new",
        {"username": "can-bo-moi", "role": "commune_reviewer", "unit_code": COMMUNE},
    )
    assert created.status_code == 200  # the temporary password page
    new = db.session.scalar(select(User).where(User.username == "can-bo-moi"))
    changed = browser.post(
        f"/admin/users/{new.id}",
        {"role": "district_reviewer", "unit_code": "608", "full_name": "Chị Hoa"},
    )
    assert changed.status_code == 302
    assert browser.post(f"/admin/users/{new.id}/deactivate").status_code == 302
    assert browser.post(f"/admin/users/{new.id}/activate").status_code == 302
    reset = browser.post(f"/admin/users/{new.id}/reset-password")
    assert reset.status_code == 200
    temporary = re.search(r'<p class="stat">([a-z0-9]{10})</p>', text(reset)).group(1)

    by_admin = [(e.action, e.target) for e in entries(actor_id=admin.id)]
    assert by_admin == [
        ("user_created", f"user:{new.id}"),
        ("user_changed", f"user:{new.id}"),
        ("user_deactivated", f"user:{new.id}"),
        ("user_activated", f"user:{new.id}"),
        ("password_reset", f"user:{new.id}"),
    ]
    change = entries(action="user_changed")[0].details["changed"]
    assert change["role"] == ["commune_reviewer", "district_reviewer"]
    assert change["unit"] == [COMMUNE, "608"] and change["full_name"] == [None, "Chị Hoa"]
    assert all(e.ip == "127.0.0.1" and e.province_code == "62" for e in entries(actor_id=admin.id))
    # the temporary password is shown once to the admin, never logged
    assert temporary not in repr([(e.username, e.target, e.details) for e in entries()])


def test_a_refused_admin_action_leaves_no_entry(ctx, make, as_user):
    admin = make.user("admin", "62")
    before = len(entries())
    refused = as_user(admin).post(
        "/admin/users/new",
        {"username": "x", "role": "district_reviewer", "unit_code": COMMUNE},  # wrong level
    )
    assert refused.status_code == 422
    assert len(entries()) == before


def test_calendar_deadline_import_and_denominators_are_logged(ctx, make):
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["calendar", "day-off", "2026-12-31", "--note", "Nghỉ bù"])
    assert result.exit_code == 0, result.output
    day = entries(action="calendar_exception")[0]
    assert day.target == "day:2026-12-31" and day.details == {
        "is_working_day": False,
        "note": "Nghỉ bù",
    }
    assert day.actor_id is None and day.ip is None  # the command line

    case, _ = make.case_in("commune_review", now=MONDAY)
    reviewer = make.reviewer("commune_reviewer", COMMUNE)
    extend_deadline(case.id, reviewer, date(2026, 12, 30), "Chờ họp thôn", now=MONDAY)
    db.session.commit()
    extended = entries(action="deadline_extended")[0]
    assert extended.actor_id == reviewer.id and extended.target == f"case:{case.id}"
    assert extended.details["reason"] == "Chờ họp thôn"

    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append([c.header for c in SPECS["communities"].columns])
    workbook.active.append(["T1", "Tổ dân phố 1", COMMUNE, "A Blong"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    run_import("communities", buffer, reviewer)
    db.session.commit()
    imported = entries(action="import")[0]
    assert imported.target == "import:communities" and imported.details["created"] == 1

    officer = make.user("province_officer", "62")
    headers = "Mã xã,Năm,Số hộ gia đình,Số dòng họ,Số thôn, tổ dân phố,Số cơ quan, đơn vị"
    csv = f'{headers.replace("Số thôn, tổ dân phố", chr(34) + "Số thôn, tổ dân phố" + chr(34))}'
    csv = csv.replace("Số cơ quan, đơn vị", '"Số cơ quan, đơn vị"')
    data = f"{csv}\n{COMMUNE},2026,120,3,4,5\n".encode()
    assert import_denominators(io.BytesIO(data), officer) == 4
    db.session.commit()
    figures = entries(action="denominators_import")[0]
    assert figures.actor_id == officer.id and figures.details == {"rows": 1, "figures_changed": 4}


def test_admins_read_their_provinces_log_and_no_one_can_change_it(ctx, make, as_user):
    import_province("64")
    admin = make.user("admin", "62")
    far_admin = make.user("admin", "64")
    record_audit("user_created", actor=far_admin, details={"username": "Canary Zqx Tỉnh Khác"})
    record_audit("user_created", actor=admin, details={"username": "Người Của Tỉnh Này"})
    record_audit("login_failed", username="ai-do-go-sai")
    db.session.commit()
    page = as_user(admin).get("/admin/audit")
    assert page.status_code == 200
    body = text(page)
    assert "Người Của Tỉnh Này" in body and "ai-do-go-sai" in body
    assert "Canary Zqx" not in body
    assert "Canary Zqx" in text(as_user(far_admin).get("/admin/audit"))
    filtered = text(as_user(admin).get("/admin/audit?action=login_failed"))
    assert "ai-do-go-sai" in filtered and "Người Của Tỉnh Này" not in filtered
    by_name = text(as_user(admin).get("/admin/audit?username=ai-do-go-sai"))
    assert "ai-do-go-sai" in by_name and "Người Của Tỉnh Này" not in by_name
    # nonsense filters are ignored, never a 500
    assert as_user(admin).get("/admin/audit?action=%00&before=abc").status_code in (200, 400)

    for role in ("manager", "province_officer", "commune_reviewer"):
        unit = COMMUNE if role == "commune_reviewer" else "62"
        assert as_user(make.user(role, unit)).get("/admin/audit").status_code == 403
    # the page has no way to change an entry: every write method is refused
    for method in ("post", "put", "delete", "patch"):
        response = getattr(as_user(admin).client, method)("/admin/audit")
        assert response.status_code in (400, 405)
    if db.engine.dialect.name == "postgresql":
        with pytest.raises(Exception, match="append-only"):
            db.session.execute(AuditEntry.__table__.update().values(username="x"))
        db.session.rollback()


def test_paging_walks_the_whole_log_once(ctx, make, as_user):
    admin = make.user("admin", "62")
    for number in range(55):
        record_audit("login_failed", username=f"thu-{number:02d}")
    db.session.commit()
    browser = as_user(admin)
    seen, url = [], "/admin/audit?action=login_failed"
    while url:
        body = text(browser.get(url))
        seen += re.findall(r"thu-\d\d", body)
        more = re.search(r'href="([^"]*before=\d+[^"]*)"', body)
        url = more.group(1).replace("&amp;", "&") if more else None
    assert sorted(seen) == [f"thu-{n:02d}" for n in range(55)]
    assert len(audit_entries(admin, action="login_failed", limit=10)) == 10


def test_the_cli_creating_a_user_is_logged_in_the_users_province(ctx):
    user = create_user("tu-dong-lenh", PASSWORD, "commune_reviewer", unit_code=COMMUNE)
    db.session.commit()
    entry = entries(action="user_created")[0]
    assert entry.target == f"user:{user.id}" and entry.province_code == "62"
    assert entry.actor_id is None
