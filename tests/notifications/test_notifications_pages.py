"""The inbox page and the admins' failed e-mails page."""

from __future__ import annotations

from flask import g

from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import import_province
from htsd_workflow.notifications.models import Delivery
from htsd_workflow.notifications.operations import dispatch_pending, unread_count


def login(client, user):
    # the test's app context outlives requests: forget the previous request's signed-in user
    g.pop("_login_user", None)
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True


def csrf_token(client, path):
    page = client.get(path).get_data(as_text=True)
    return page.split('name="csrf_token" value="')[1].split('"')[0]


def test_applicant_reads_the_inbox_and_marks_it_read(ctx, client, make):
    case, applicant = make.case_in("commune_review")
    dispatch_pending()
    db.session.commit()
    login(client, applicant)
    page = client.get("/notifications").get_data(as_text=True)
    assert "Hồ sơ đã được gửi" in page and f"/cases/{case.id}" in page
    token = csrf_token(client, "/notifications")
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 302
    assert unread_count(applicant) == 0
    assert client.post("/notifications/read").status_code == 400  # no CSRF token


def test_only_admins_see_and_retry_failed_emails(ctx, client, make):
    admin = make.user("admin", "62")
    reviewer = make.reviewer("commune_reviewer", "23281")
    failed = Delivery(
        key="x:1:email",
        user_id=reviewer.id,
        address="a@b.vn",
        subject="S",
        body="B",
        status="failed",
        attempts=5,
        last_error="SMTPServerDisconnected",
    )
    db.session.add(failed)
    db.session.commit()
    failed_id = failed.id
    login(client, reviewer)
    assert client.get("/admin/deliveries").status_code == 403
    login(client, admin)
    response = client.get("/admin/deliveries")
    page = response.get_data(as_text=True)
    assert "SMTPServerDisconnected" in page, (
        response.status_code,
        page[page.find("<main") :][:600],
    )
    token = csrf_token(client, "/admin/deliveries")
    client.post("/admin/deliveries/retry", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Delivery, failed_id).status == "pending"


def _failed_email(user, key, error):
    delivery = Delivery(
        key=key,
        user_id=user.id,
        address="a@b.vn",
        subject="S",
        body="B",
        status="failed",
        attempts=5,
        last_error=error,
    )
    db.session.add(delivery)
    db.session.commit()
    return delivery.id


def test_an_admin_sees_and_retries_only_their_own_provinces_failed_emails(ctx, client, make):
    import_province("64")
    admin = make.user("admin", "62")
    far_admin = make.user("admin", "64")
    mine = _failed_email(make.user("commune_reviewer", "23281"), "x:2:email", "LoiTinhNay")
    far = _failed_email(make.user("commune_reviewer", "23557"), "x:3:email", "CanaryTinhKhac")

    login(client, admin)
    page = client.get("/admin/deliveries").get_data(as_text=True)
    assert "LoiTinhNay" in page and "CanaryTinhKhac" not in page
    token = csrf_token(client, "/admin/deliveries")
    client.post("/admin/deliveries/retry", data={"csrf_token": token, "id": [str(far)]})
    client.post("/admin/deliveries/retry", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Delivery, mine).status == "pending"
    assert db.session.get(Delivery, far).status == "failed"

    login(client, far_admin)
    assert "CanaryTinhKhac" in client.get("/admin/deliveries").get_data(as_text=True)
    # from the command line: one admin's province with --as, every province without it
    runner = ctx.test_cli_runner()
    result = runner.invoke(args=["outbox", "retry-failed", "--as", admin.username])
    assert result.exit_code == 0 and "0 e-mail(s)" in result.output
    db.session.expire_all()
    assert db.session.get(Delivery, far).status == "failed"
    result = runner.invoke(args=["outbox", "retry-failed"])
    assert result.exit_code == 0 and "1 e-mail(s)" in result.output


def test_the_menu_counts_unread_messages_and_the_inbox_is_one_line_each(ctx, client, make):
    case, _ = make.case_in("commune_review")
    reviewer = make.reviewer("commune_reviewer", case.commune_code)
    dispatch_pending()
    db.session.commit()
    login(client, reviewer)
    page = client.get("/queue").get_data(as_text=True)
    nav = page[page.index('<nav class="main"') : page.index("</nav>")]
    assert 'data-unread aria-label="1 thông báo chưa đọc">1</span>' in nav
    page = client.get("/notifications").get_data(as_text=True)
    summary = page[page.index("<summary>") : page.index("</summary>")]
    # one line: what happened, which case, what to do and by when; the letter opens on demand
    assert f"[HS-{case.id}]" in summary and "Việc cần làm: xem xét" in summary
    assert "Kính gửi" not in summary and "Kính gửi" in page
    token = csrf_token(client, "/notifications")
    client.post("/notifications/read", data={"csrf_token": token})
    g.pop("_login_user", None)
    g.pop("unread_notifications", None)
    assert "data-unread" not in client.get("/queue").get_data(as_text=True)
