"""One request, one transaction (issue 20 item 4): a page commits what it wrote when it answers
with a success (2xx, 3xx), and nothing when it refuses (4xx, 5xx, an exception); an operation
the view runs in ``undone_on_refusal`` leaves nothing when refused; work handed to
``after_commit`` runs after the commit and sees the committed rows, or not at all."""

from __future__ import annotations

import pytest
from flask import redirect
from sqlalchemy import func, select

from htsd_workflow.audit.models import AuditEntry
from htsd_workflow.audit.operations import record_audit
from htsd_workflow.auth.access import access
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.extensions import db
from tests.clients import text


def _committed(target: str) -> int:
    """How many audit rows about ``target`` another connection sees (what was committed)."""
    with db.engine.connect() as connection:
        return connection.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.target == target)
        )


def _page(app, view, method="POST"):
    """Call ``view`` wrapped as a page (``access``) in a request, as Flask would."""
    with app.test_request_context("/", method=method):
        return access(public=True)(view)()


def test_a_page_that_answers_a_success_commits_what_it_wrote(ctx):
    def view():
        record_audit("export", target="boundary_ok")
        return redirect("/"), 303

    assert _page(ctx, view).status_code == 303
    assert _committed("boundary_ok") == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 500])
def test_a_page_that_answers_a_refusal_leaves_nothing_written(ctx, status):
    def view():
        record_audit("export", target="boundary_refused")
        db.session.flush()
        return "refused", status

    assert _page(ctx, view).status_code == status
    assert _committed("boundary_refused") == 0


def test_a_page_whose_view_raises_leaves_nothing_written(ctx):
    def view():
        record_audit("export", target="boundary_raised")
        db.session.flush()
        raise InvalidInput("no")

    with pytest.raises(InvalidInput):
        _page(ctx, view)
    assert _committed("boundary_raised") == 0


def test_a_refused_operation_is_undone_and_the_rest_of_the_request_commits(ctx):
    """A draft saved, then a refused "send": the draft stays, the send leaves nothing."""

    def refused_operation():
        record_audit("export", target="boundary_inside")
        db.session.flush()
        raise InvalidInput("refused")

    def view():
        record_audit("export", target="boundary_before")
        try:
            with transaction.undone_on_refusal():
                refused_operation()
        except InvalidInput:
            pass
        record_audit("export", target="boundary_after")
        return redirect("/"), 303

    assert _page(ctx, view).status_code == 303
    assert _committed("boundary_before") == 1
    assert _committed("boundary_inside") == 0
    assert _committed("boundary_after") == 1


def test_an_operation_that_succeeds_in_its_savepoint_is_undone_with_a_refused_request(ctx):
    """On SQLite too the savepoint does not commit the request's transaction early."""

    def view():
        with transaction.undone_on_refusal():
            record_audit("export", target="boundary_savepoint")
        return "refused later", 422

    assert _page(ctx, view).status_code == 422
    assert _committed("boundary_savepoint") == 0


def test_keep_writes_commits_a_refusal_that_records_something(ctx):
    def view():
        record_audit("export", target="boundary_kept")
        transaction.keep_writes()
        return "refused sign-in", 401

    assert _page(ctx, view).status_code == 401
    assert _committed("boundary_kept") == 1


def test_work_after_the_commit_sees_the_committed_row_and_never_runs_on_a_refusal(ctx):
    seen = []

    def view(status):
        record_audit("export", target="boundary_job")
        transaction.after_commit(lambda: seen.append(_committed("boundary_job")))
        return "done", status

    _page(ctx, lambda: view(422))
    assert seen == []
    _page(ctx, lambda: view(200))
    assert seen == [1]


def test_a_page_that_never_used_the_session_begins_no_transaction_to_commit(ctx):
    """The public check reads on a connection of its own, a health check reads nothing: the
    boundary has nothing to commit, so it opens no (empty) transaction to commit; work handed
    to ``after_commit`` still runs."""
    from sqlalchemy import event

    begun, ran = [], []

    def view():
        transaction.after_commit(lambda: ran.append(True))
        return "read nothing", 200

    def created(_session, _transaction):
        begun.append(True)

    session = db.session()
    db.session.rollback()
    event.listen(session, "after_transaction_create", created)
    try:
        assert _page(ctx, view, method="GET").status_code == 200
    finally:
        event.remove(session, "after_transaction_create", created)
    assert begun == [] and ran == [True]


def test_a_refused_page_operation_changes_nothing(as_user, make, monkeypatch):
    """The real "open a round" page: an operation that writes, then refuses, answers with its
    message and a redirect (303, a success status) yet leaves nothing written."""
    import htsd_workflow.rounds.views as rounds_views

    def writes_then_refuses(*args, **kwargs):
        record_audit("export", target="round_half_saved")
        db.session.flush()
        raise InvalidInput("Đợt xét không hợp lệ.")

    monkeypatch.setattr(rounds_views, "save_round", writes_then_refuses)
    officer = as_user(make.reviewer("province_officer", "62"))
    page = officer.post(
        "/rounds",
        data={
            "title": "Đợt 2026",
            "year": "2026",
            "registration_opens_on": "2026-01-05",
            "registration_closes_on": "2026-03-31",
            "review_deadline": "2026-06-30",
        },
    )
    assert page.status_code == 303
    assert _committed("round_half_saved") == 0
    assert "Đợt xét không hợp lệ." in text(officer.get(page.headers["Location"]))


def test_a_refused_savepoint_deletes_only_the_files_stored_inside_it(ctx, make):
    """Evidence files stored before a refused operation stay with their rows (the draft's
    photos when a "send" is refused); those stored inside the undone savepoint go."""
    import io

    from htsd_workflow.cases.engine import get_registry
    from htsd_workflow.evidence.files import stored_path
    from htsd_workflow.evidence.models import Attachment
    from htsd_workflow.evidence.operations import add_attachment

    jpeg = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
    case, applicant = make.draft()
    code = get_registry().criteria_set(case.criteria_set_id).items[0].code

    def view():
        add_attachment(case.id, code, io.BytesIO(jpeg), "truoc.jpg", applicant)
        try:
            with transaction.undone_on_refusal():
                add_attachment(case.id, code, io.BytesIO(jpeg), "trong.jpg", applicant)
                raise InvalidInput("refused")
        except InvalidInput:
            pass
        return redirect("/"), 303

    assert _page(ctx, view).status_code == 303
    kept = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all()
    assert [a.filename for a in kept] == ["truoc.jpg"]
    folder = stored_path(case.id, kept[0].stored_name).parent
    assert [p.name for p in folder.iterdir()] == [kept[0].stored_name]
