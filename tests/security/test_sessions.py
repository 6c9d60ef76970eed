"""A deactivated user is locked out on the very next request, in the browser and the API."""

from __future__ import annotations

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
