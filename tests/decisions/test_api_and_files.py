"""The decisions' API, the PDFs (Vietnamese glyphs, QR), the certificate download and the
public /verify page and endpoint (no sign-in, security headers, rate limit, no oracle)."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from htsd_workflow.decisions.models import Decision
from htsd_workflow.extensions import db
from htsd_workflow.jobs import names
from tests.factories import COMMUNE, DISTRICT, OTHER_COMMUNE_SAME_DISTRICT

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December


def _text(pdf: bytes) -> str:
    """The PDF's text with every run of white space as one space (lines wrap)."""
    return " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages).split())


def _pages(pdf: bytes):
    return PdfReader(io.BytesIO(pdf)).pages


@pytest.fixture
def issued(make, recognised, api):
    """An issued decision of two families of COMMUNE, through the API."""
    cases = [recognised(name=f"Hộ Nguyễn Văn Ất {i}")[0] for i in range(2)]
    officer = api(make.reviewer("commune_reviewer", COMMUNE))
    drafted = officer.post("/decisions", {"title": "family", "year": 2026, "unit_code": COMMUNE})
    assert drafted.status_code == 201, drafted.get_json()
    body = drafted.get_json()
    assert [c["case_id"] for c in body["cases"]] == sorted(c.id for c in cases)
    manager = api(make.user("manager", DISTRICT))
    done = manager.post(
        f"/decisions/{body['id']}/issue",
        {"number": "12/QĐ-UBND", "date": "2026-12-20", "signer_name": "Nguyễn Văn A"},
    )
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["status"] == "issued"
    return db.session.get(Decision, body["id"]), cases


def test_issuing_twice_through_the_api_is_a_conflict(ctx, make, issued, api):
    decision, _ = issued
    manager = api(make.user("manager", DISTRICT))
    again = manager.post(
        f"/decisions/{decision.id}/issue",
        {"number": "13", "date": "2026-12-21", "signer_name": "Trần Thị B"},
    )
    assert again.status_code == 409
    assert set(again.get_json()["error"]) == {"code", "message", "details"}


def test_bad_issue_input_is_a_422_naming_the_field(ctx, make, recognised, api):
    recognised()
    officer = api(make.reviewer("commune_reviewer", COMMUNE))
    decision = officer.post("/decisions", {"title": "family", "year": 2026, "unit_code": COMMUNE})
    manager = api(make.user("manager", DISTRICT))
    answer = manager.post(
        f"/decisions/{decision.get_json()['id']}/issue",
        {"number": "1", "date": "20/12/2026", "signer_name": "A"},
    )
    assert answer.status_code == 422 and "date" in answer.get_json()["error"]["details"]
    assert db.session.get(Decision, decision.get_json()["id"]).status == "draft"


def test_decisions_are_scoped_to_the_territory(ctx, make, issued, api):
    decision, _ = issued
    other = api(make.reviewer("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    assert other.get(f"/decisions/{decision.id}").status_code == 404
    assert decision.id not in [d["id"] for d in other.get("/decisions").get_json()["items"]]
    mine = api(make.reviewer("commune_reviewer", COMMUNE))
    assert [d["id"] for d in mine.get("/decisions").get_json()["items"]] == [decision.id]


def test_the_decision_pdf_follows_the_state_form_in_vietnamese(ctx, make, issued, api):
    decision, _ = issued
    answer = api(make.reviewer("commune_reviewer", COMMUNE)).get(f"/decisions/{decision.id}/pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    text = _text(answer.data)
    for words in (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Số: 12/QĐ-UBND",
        "QUYẾT ĐỊNH",
        "Về việc công nhận danh hiệu “Gia đình học tập” năm 2026",
        "Căn cứ",
        "Điều 1.",
        "Điều 3.",
        "Nơi nhận:",
        "Nguyễn Văn A",
        "Hộ Nguyễn Văn Ất 0",
        "DANH SÁCH",
    ):
        assert words in text, words
    db.session.expire_all()
    kept = db.session.get(Decision, decision.id)
    assert kept.pdf == answer.data and kept.is_signed is False  # no key: unsigned, kept


def test_the_applicant_downloads_a_certificate_with_its_qr_code(ctx, make, issued, api, client):
    decision, cases = issued
    entry = next(e for e in decision.entries if e.case_id == cases[0].id)
    from htsd_workflow.cases.models import Case
    from htsd_workflow.subjects.models import Subject

    subject = db.session.get(Subject, db.session.get(Case, cases[0].id).subject_id)
    applicant = next(u for u in subject_users(subject.id))
    answer = api(applicant).get(f"/cases/{cases[0].id}/certificate")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    pages = _pages(answer.data)
    assert len(pages) == 1
    box = pages[0].mediabox
    assert float(box.width) > float(box.height)  # landscape
    text = _text(answer.data)
    assert "GIẤY CÔNG NHẬN" in text and "Hộ Nguyễn Văn Ất 0" in text
    assert "/verify/" + entry.code in text.replace(" ", "")
    other_case = cases[1].id
    assert api(applicant).get(f"/cases/{other_case}/certificate").status_code == 404


def subject_users(subject_id):
    from sqlalchemy import select

    from htsd_workflow.auth.models import User

    return db.session.scalars(select(User).where(User.subject_id == subject_id)).all()


def test_a_commune_prints_all_its_certificates_one_per_page(ctx, make, issued, as_user):
    decision, _ = issued
    browser = as_user(make.reviewer("commune_reviewer", COMMUNE))
    answer = browser.get(f"/decisions/{decision.id}/certificates.pdf")
    assert answer.status_code == 200
    assert len(_pages(answer.data)) == 2


def test_the_public_check_needs_no_sign_in_and_shows_only_the_public_facts(
    ctx, make, issued, client
):
    decision, _ = issued
    entry = decision.entries[0]
    page = client.get(f"/verify/{entry.code}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert entry.name in html and "12/QĐ-UBND" in html and "Còn hiệu lực" in html
    assert decision.entries[1].name not in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["X-Frame-Options"] == "DENY"
    answer = client.get(f"/api/v1/verify/{entry.code}")
    assert answer.status_code == 200 and answer.get_json()["status"] == "valid"
    assert "case_id" not in answer.get_json() and "id" not in answer.get_json()


def test_unknown_and_malformed_codes_get_the_same_answer(ctx, make, issued, client):
    answers = [client.get(f"/api/v1/verify/{code}") for code in ("A" * 16, "x", "1")]
    assert {a.status_code for a in answers} == {404}
    assert len({a.get_json()["error"]["message"] for a in answers}) == 1
    pages = [client.get(f"/verify/{code}") for code in ("A" * 16, "x")]
    assert {p.status_code for p in pages} == {404}


def test_the_public_check_is_rate_limited(ctx, client):
    ctx.config["VERIFY_RATE_LIMIT"] = "3 per minute"
    try:
        codes = [client.get("/api/v1/verify/" + "B" * 16).status_code for _ in range(3)]
        assert codes == [404, 404, 404]
        assert client.get("/api/v1/verify/" + "C" * 16).status_code == 429
        assert client.get("/verify/" + "C" * 16).status_code == 429  # one budget for both
    finally:
        ctx.config["VERIFY_RATE_LIMIT"] = "60 per minute; 600 per hour"


def test_the_public_pages_carry_no_rate_limit_headers_but_a_refusal_does(ctx, client):
    """The pages' answers leave out X-RateLimit-* (reading the window back cost two Redis round
    trips per check); the API's keep them, and a refused page says when to come back."""
    from htsd_workflow.extensions import limiter

    def rate_headers(answer) -> set[str]:
        return {name for name, _value in answer.headers if name.startswith("X-RateLimit")}

    limiter.reset()
    ctx.config["VERIFY_RATE_LIMIT"] = "3 per minute"
    try:
        api = client.get("/api/v1/verify/" + "B" * 16)
        assert api.status_code == 404 and api.headers["X-RateLimit-Remaining"] == "2"
        page = client.get("/verify/" + "B" * 16)
        assert page.status_code == 404 and rate_headers(page) == set()
        form = client.get("/verify")
        assert form.status_code == 200 and rate_headers(form) == set()
        refused = client.get("/verify/" + "C" * 16)
        assert refused.status_code == 429 and refused.headers["X-RateLimit-Remaining"] == "0"
        assert int(refused.headers["Retry-After"]) > 0
    finally:
        ctx.config["VERIFY_RATE_LIMIT"] = "60 per minute; 600 per hour"
        limiter.reset()


def test_the_openapi_description_lists_the_decision_endpoints(ctx, client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/decisions",
        "/decisions/{decision_id}",
        "/decisions/{decision_id}/issue",
        "/decisions/{decision_id}/pdf",
        "/cases/{case_id}/certificate",
        "/verify/{code}",
    ):
        assert path in paths, path
    assert paths["/verify/{code}"]["get"]["security"] == []


def test_the_applicant_sees_the_decision_on_the_case_page(ctx, make, issued, as_user):
    decision, cases = issued
    applicant = subject_users(cases[0].subject_id)[0]
    html = as_user(applicant).get(f"/cases/{cases[0].id}").get_data(as_text=True)
    assert "12/QĐ-UBND" in html and "20/12/2026" in html
    assert f"/cases/{cases[0].id}/certificate.pdf" in html
    answer = as_user(applicant).get(f"/cases/{cases[0].id}/certificate.pdf")
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert as_user(applicant).get(f"/cases/{cases[1].id}/certificate.pdf").status_code == 404


def test_the_notification_gives_the_decision_number_and_date(ctx, make, issued):
    from htsd_workflow.notifications.models import Notification
    from htsd_workflow.notifications.operations import dispatch_pending

    decision, cases = issued
    dispatch_pending()
    db.session.commit()
    applicant = subject_users(cases[0].subject_id)[0]
    bodies = [
        n.body
        for n in db.session.query(Notification).filter(Notification.user_id == applicant.id).all()
    ]
    assert any("12/QĐ-UBND" in b and "20/12/2026" in b and "Giấy công nhận" in b for b in bodies)


def test_many_certificates_are_built_in_the_background_with_progress(ctx, make, issued, as_user):
    from htsd_workflow.decisions.jobs import CERTIFICATES
    from htsd_workflow.decisions.models import CertificateJob
    from htsd_workflow.jobs.runner import run_job

    decision, _ = issued
    ran = []
    ctx.config["CERTIFICATES_INLINE_MAX"] = 1
    ctx.extensions.setdefault("htsd_job_runners", {})[names.BUILD_CERTIFICATES] = ran.append
    try:
        browser = as_user(make.reviewer("commune_reviewer", COMMUNE))
        started = browser.get(f"/decisions/{decision.id}/certificates.pdf")
        assert started.status_code == 302
        job_id = ran[0]
        page = browser.get(started.headers["Location"]).get_data(as_text=True)
        assert "data-progress-url" in page
        run_job(CERTIFICATES, job_id, chunk=1)
        status = browser.get(f"/decisions/certificate-jobs/{job_id}/status").get_json()
        assert status == {
            "status": "done",
            "total": 2,
            "done": 2,
            "finished": True,
            "label": None,
        }
        done = browser.get(f"/decisions/certificate-jobs/{job_id}/file")
        assert len(_pages(done.data)) == 2
        from flask import g

        stranger = as_user(make.user("commune_reviewer", COMMUNE))
        g.pop("_login_user", None)  # the app context outlives requests in these tests
        assert stranger.get(f"/decisions/certificate-jobs/{job_id}/file").status_code == 404
    finally:
        ctx.config["CERTIFICATES_INLINE_MAX"] = 40
        ctx.extensions["htsd_job_runners"].pop(names.BUILD_CERTIFICATES, None)
    assert db.session.get(CertificateJob, job_id).status == "done"


def test_the_case_answer_carries_its_decision(ctx, make, issued, api):
    decision, cases = issued
    applicant = subject_users(cases[0].subject_id)[0]
    body = api(applicant).get(f"/cases/{cases[0].id}").get_json()
    assert body["decision"] == {
        "number": "12/QĐ-UBND",
        "date": "2026-12-20",
        "body_name": decision.body_name,
        "certificate": f"/api/v1/cases/{cases[0].id}/certificate",
    }
    other, _ = make.case_in("commune_review")
    officer = api(make.reviewer("commune_reviewer", COMMUNE))
    assert officer.get(f"/cases/{other.id}").get_json()["decision"] is None


def test_the_pdf_endpoints_answer_as_the_openapi_document_says(ctx, make, issued, api):
    """The document declares PDF (not JSON) for the decision and the certificate, and their
    answers pass schemathesis' checks (status, content type, body)."""
    import schemathesis

    from tests.api.test_schemathesis import SPEC, STEP_CHECKS

    decision, cases = issued
    token = api(make.reviewer("commune_reviewer", COMMUNE)).token
    schema = schemathesis.from_dict(SPEC, app=ctx, base_url="/api/v1")
    for path, parameters in (
        ("/decisions/{decision_id}/pdf", {"decision_id": decision.id}),
        ("/cases/{case_id}/certificate", {"case_id": cases[0].id}),
    ):
        declared = SPEC["paths"][path]["get"]["responses"]
        assert list(declared["200"]["content"]) == ["application/pdf"], path
        assert list(declared["404"]["content"]) == ["application/json"], path
        case = schema[path]["GET"].make_case(
            path_parameters=parameters, headers={"Authorization": f"Bearer {token}"}
        )
        response = case.call_wsgi()
        assert response.status_code == 200 and response.data.startswith(b"%PDF"), path
        case.validate_response(response, checks=STEP_CHECKS)
