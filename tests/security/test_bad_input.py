"""Bad input gets a clear 4xx, never a 500."""

from __future__ import annotations


def test_a_nul_character_in_a_form_or_query_is_a_clear_400(client):
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    login = client.post(
        "/login", data={"username": "ab\x00c", "password": "x", "csrf_token": token}
    )
    assert login.status_code == 400
    query = client.get("/search?q=%00")
    assert query.status_code == 400 and "NUL" in query.get_data(as_text=True)


def test_a_nul_character_in_json_is_a_422_naming_the_field(client):
    response = client.post("/api/v1/auth/token", json={"username": "a\x00", "password": "x"})
    assert response.status_code == 422
    assert "username" in response.json["error"]["details"]


def test_malformed_json_is_a_400(client):
    response = client.post("/api/v1/auth/token", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
