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


def test_numbers_the_database_cannot_hold_are_a_404_or_ignored_never_a_500(as_user, make):
    from tests.factories import COMMUNE

    officer = as_user(make.user("commune_reviewer", COMMUNE))
    huge = "9" * 30
    assert officer.get(f"/cases/{huge}").status_code == 404
    assert officer.get(f"/cases/{2**63}/files/1").status_code == 404
    assert officer.get(f"/notifications?before={huge}").status_code == 200
    assert officer.get("/notifications?before=²").status_code == 200
    bulk = officer.post("/queue/bulk", {"case_id": ["²", huge], "trigger": "approve"})
    assert bulk.status_code == 422
    admin = as_user(make.user("admin", "62"))
    assert admin.get(f"/overview?year={huge}").status_code == 200
    assert admin.get("/reports/targets?year=2026²").status_code == 422
    assert admin.get("/admin/audit?before=²").status_code == 200
    household = as_user(make.applicant(make.subject()))
    started = household.post("/my/cases", {"year": huge})
    assert started.status_code == 422 and "không hợp lệ" in started.get_data(as_text=True)


def test_an_e_mail_address_in_the_user_form_is_checked_without_a_500(as_user, make):
    from tests.factories import COMMUNE

    admin = as_user(make.user("admin", "62"))
    form = {"username": "co-thu", "role": "commune_reviewer", "unit_code": COMMUNE}
    wrong = admin.post("/admin/users/new", dict(form, email="khong-phai-thu"))
    assert wrong.status_code == 422 and "Thư điện tử chưa đúng dạng" in wrong.get_data(True)
    right = admin.post("/admin/users/new", dict(form, email="can.bo@kontum.gov.vn"))
    assert right.status_code == 200  # the page with the temporary password


def test_a_denominators_file_with_impossible_numbers_is_refused_row_by_row(ctx, make):
    import io

    import pytest
    from sqlalchemy import func, select

    from htsd_workflow.core.errors import InvalidInput
    from htsd_workflow.extensions import db
    from htsd_workflow.reports.models import Denominator
    from htsd_workflow.reports.operations import import_denominators

    officer = make.user("province_officer", "62")
    header = 'Mã xã,Năm,Số hộ gia đình,Số dòng họ,"Số thôn, tổ dân phố","Số cơ quan, đơn vị"'
    rows = ["23281,2026²,1,1,1,1", f"23284,2026,{'9' * 40},1,1,1", "23500,2026,², -1,1,1"]
    data = "\n".join([header, *rows]).encode()
    with pytest.raises(InvalidInput) as refused:
        import_denominators(io.BytesIO(data), officer)
    db.session.rollback()
    errors = refused.value.details["errors"]
    assert {e["row"] for e in errors} == {2, 3, 4}
    assert db.session.scalar(select(func.count()).select_from(Denominator)) == 0


def test_login_slips_take_only_ids_in_ascii_digits(as_user, make):
    from sqlalchemy import func, select

    from htsd_workflow.auth.models import User
    from htsd_workflow.extensions import db
    from tests.factories import COMMUNE

    household = make.subject("family", COMMUNE)
    officer = as_user(make.user("commune_reviewer", COMMUNE))
    arabic_indic = str(household.id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for typed in (["²"], [arabic_indic], [str(household.id), "²"], ["1" + "0" * 30], [str(2**31)]):
        answer = officer.post("/imports/slips", {"subject_id": typed})
        assert answer.status_code == 422, (typed, answer.status_code)
    accounts = select(func.count()).select_from(User).where(User.subject_id == household.id)
    assert db.session.scalar(accounts) == 0
    assert officer.post("/imports/slips", {"subject_id": [str(household.id)]}).status_code == 200
    assert db.session.scalar(accounts) == 1


def test_the_queues_cursors_take_no_id_beyond_the_keys(as_user, make):
    from tests.factories import COMMUNE

    make.case_in("commune_review")
    officer = as_user(make.reviewer("commune_reviewer", COMMUNE))
    for cursor in (
        f"2026-12-07T10:00:00_{2**31}",
        f"2026-12-07T10:00:00_{2**63}",
        "2026-12-07T10:00:00_١٢",
        "2026-12-07T10:00:00+07:00_1",
    ):
        for name in ("after", "before"):
            assert officer.get(f"/queue?{name}={cursor}").status_code == 200, (name, cursor)


def test_the_user_forms_subject_id_takes_only_ids_in_ascii_digits(as_user, make):
    from sqlalchemy import select

    from htsd_workflow.auth.models import User
    from htsd_workflow.extensions import db

    household = make.subject()
    admin = as_user(make.user("admin", "62"))
    arabic_indic = str(household.id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    form = {"username": "chu-ho", "role": "applicant", "unit_code": household.unit_code}
    for typed in (str(2**31), str(2**63), "²", arabic_indic):
        answer = admin.post("/admin/users/new", dict(form, subject_id=typed))
        assert answer.status_code == 422, (typed, answer.status_code)
    assert db.session.scalar(select(User).where(User.username == "chu-ho")) is None
    assert (
        admin.post("/admin/users/new", dict(form, subject_id=str(household.id))).status_code == 200
    )


def test_a_score_in_another_scripts_digits_is_refused(as_user, make):
    from sqlalchemy import select

    from htsd_workflow.cases.models import AssessmentItem
    from htsd_workflow.extensions import db

    case, applicant = make.draft(complete=False)
    household = as_user(applicant)
    for typed in ("٩", "9²", "٩,٥"):
        form = {"version": str(case.version), "action": "save", "score-1.1": typed}
        answer = household.post(f"/cases/{case.id}/assessment", form)
        assert answer.status_code == 422, (typed, answer.status_code)
    db.session.expire_all()
    score = select(AssessmentItem.score).where(
        AssessmentItem.case_id == case.id, AssessmentItem.code == "1.1"
    )
    assert db.session.scalar(score) is None
