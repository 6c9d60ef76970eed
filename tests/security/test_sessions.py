"""A deactivated user is locked out on the very next request, in the browser and the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from htsd_workflow.auth.models import ApiToken, User
from htsd_workflow.auth.operations import issue_login_slips, set_password
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.extensions import db
from tests.clients import text
from tests.factories import COMMUNE, PASSWORD


def test_a_deactivated_user_is_locked_out_on_the_next_request(as_user, make, ctx):
    officer_user = make.user("commune_reviewer", COMMUNE)
    officer = as_user(officer_user)
    assert officer.get("/queue").status_code == 200
    token = ctx.test_client().post(
        "/api/v1/auth/token", json={"username": officer_user.username, "password": PASSWORD}
    )
    assert token.status_code == 201
    bearer = {"Authorization": f"Bearer {token.json['token']}"}
    assert ctx.test_client().get("/api/v1/me", headers=bearer).status_code == 200

    admin = as_user(make.user("admin", "62"))
    assert admin.post(f"/admin/users/{officer_user.id}/deactivate").status_code == 302

    locked_out = officer.get("/queue")
    assert locked_out.status_code == 302 and "/login" in locked_out.headers["Location"]
    assert ctx.test_client().get("/api/v1/me", headers=bearer).status_code == 401


def _token(ctx, username, password=PASSWORD) -> dict:
    issued = ctx.test_client().post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )
    assert issued.status_code == 201, issued.json
    return {"Authorization": f"Bearer {issued.json['token']}"}


def _api_me(ctx, bearer):
    return ctx.test_client().get("/api/v1/me", headers=bearer)


def test_locking_an_account_revokes_its_tokens_and_unlocking_does_not_revive_them(
    as_user, make, ctx
):
    officer_user = make.user("commune_reviewer", COMMUNE)
    bearer = _token(ctx, officer_user.username)
    admin = as_user(make.user("admin", "62"))
    assert admin.post(f"/admin/users/{officer_user.id}/deactivate").status_code == 302
    assert admin.post(f"/admin/users/{officer_user.id}/activate").status_code == 302
    db.session.expire_all()
    assert db.session.get(User, officer_user.id).is_active
    refused = _api_me(ctx, bearer)
    assert refused.status_code == 401
    assert db.session.scalar(select(ApiToken.revoked_at).where(ApiToken.user_id == officer_user.id))
    # the account itself works again: a new token is accepted
    assert _api_me(ctx, _token(ctx, officer_user.username)).status_code == 200


def test_no_token_is_accepted_while_the_password_must_be_changed(make, ctx):
    officer_user = make.user("commune_reviewer", COMMUNE)
    bearer = _token(ctx, officer_user.username)
    officer_user.must_change_password = True
    db.session.commit()
    refused = _api_me(ctx, bearer)
    assert refused.status_code == 403
    assert refused.json["error"]["code"] == "password_change_required"


def test_a_reprinted_login_slip_ends_the_accounts_tokens(make, ctx):
    officer = make.user("commune_reviewer", COMMUNE)
    household = make.subject("family", COMMUNE, external_code="H-SLIP-1")
    slip = issue_login_slips([household.id], officer)[0]
    holder = db.session.scalar(select(User).where(User.username == slip["username"]))
    set_password(holder, "mat-khau-moi-1")  # the holder's own password, at first sign-in
    db.session.commit()
    bearer = _token(ctx, holder.username, "mat-khau-moi-1")
    assert _api_me(ctx, bearer).status_code == 200
    issue_login_slips([household.id], officer)
    db.session.commit()
    assert _api_me(ctx, bearer).status_code in (401, 403)
    # revoked for good, not only held back until the new password is chosen
    assert db.session.scalar(select(ApiToken.revoked_at).where(ApiToken.user_id == holder.id))


def test_a_login_slip_never_unlocks_an_account_an_admin_locked(as_user, make, ctx):
    officer_user = make.user("commune_reviewer", COMMUNE)
    household = make.subject("family", COMMUNE, external_code="H-SLIP-2")
    slip = issue_login_slips([household.id], officer_user)[0]
    db.session.commit()
    holder = db.session.scalar(select(User).where(User.username == slip["username"]))
    admin = as_user(make.user("admin", "62"))
    assert admin.post(f"/admin/users/{holder.id}/deactivate").status_code == 302
    hash_before = db.session.get(User, holder.id).password_hash

    officer = as_user(officer_user)
    refused = officer.post("/imports/slips", data={"subject_id": [str(household.id)]})
    assert refused.status_code == 422 and "đang bị khóa" in text(refused)
    db.session.expire_all()
    locked = db.session.get(User, holder.id)
    assert not locked.is_active and locked.password_hash == hash_before
    with pytest.raises(InvalidInput):
        issue_login_slips([household.id], officer_user)


#: what another worker (an admin's request, a password change on another device) writes to the
#: account, each of which the very next request of an open session must see
_CHANGES_ELSEWHERE = {
    "locked": {"is_active_user": False},
    "new password": {"session_token": "a-new-session-token"},
    "now an applicant": {"role": "applicant"},
}


@pytest.mark.parametrize("change", list(_CHANGES_ELSEWHERE))
def test_a_change_to_the_account_written_elsewhere_is_seen_by_the_very_next_request(
    as_user, make, change
):
    """The signed-in user is read from its row on every request (``web.load_user``): neither a
    user kept from an earlier request nor the instance this session already holds may answer
    for it. The change is written on another connection, as another worker would, so nothing
    tells this session's objects."""
    officer_user = make.user("commune_reviewer", COMMUNE)
    officer = as_user(officer_user)
    assert officer.get("/queue").status_code == 200
    assert officer.get("/queue").status_code == 200
    with db.engine.begin() as connection:
        connection.execute(
            update(User).where(User.id == officer_user.id).values(**_CHANGES_ELSEWHERE[change])
        )
    for _ in range(2):
        after = officer.get("/queue")
        if change == "now an applicant":
            assert after.status_code == 403
        else:
            assert after.status_code == 302 and "/login" in after.headers["Location"]
