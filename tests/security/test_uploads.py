"""Evidence uploads: checked by content (never by name), size-limited, names cleaned, kept
outside the web root, served only to people who may see the case and with headers that stop a
browser from running them; a refused file leaves the rest of the form as typed."""

from __future__ import annotations

import io
from pathlib import Path

from sqlalchemy import select

from htsd_workflow.cases.models import AssessmentItem
from htsd_workflow.evidence.files import stored_path
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.extensions import db
from tests.clients import Browser, text
from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT, OTHER_DISTRICT

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 100
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"

#: files whose names lie about what they are
DISGUISED = [
    (b"<!doctype html><script>fetch('/admin')</script>", "Giấy chứng nhận.pdf"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "anh.png"),
    (b"GIF89a<script>alert(1)</script>", "anh.jpg"),
    (b"PK\x03\x04 a zip with macros", "bao-cao.pdf"),
    (b"MZ\x90\x00 a Windows program", "anh.jpeg"),
    (b"  %PDF-1.7 (not at the start)", "van-ban.pdf"),
]


def typed_form(case, **extra):
    data = {
        "version": str(case.version),
        "action": "save",
        "score-1.1": "9",
        "evidence-1.1": "Giấy khen của xã",
        "score-2.2": "17",
        "evidence-2.2": "Sổ theo dõi",
    }
    data.update(extra)
    return data


def post_files(browser, case, files, **extra):
    data = typed_form(case, **extra)
    data["files-1.1"] = files
    return browser.post(f"/cases/{case.id}/assessment", data, content_type="multipart/form-data")


def test_a_file_is_judged_by_its_content_not_its_name(as_user, make):
    case, applicant = make.draft(complete=False)
    household = as_user(applicant)
    folder = stored_path(case.id, "x").parent
    # the app's upload folder lives as long as the test session: an earlier test's case with
    # the same id may have left files there
    before = set(folder.iterdir()) if folder.exists() else set()
    for content, name in DISGUISED:
        response = post_files(household, case, [(io.BytesIO(content), name)])
        assert response.status_code == 422, name
        assert f"Tệp “{name}” không phải ảnh" in text(response)
        db.session.expire_all()
        case = db.session.get(type(case), case.id)
    assert db.session.scalar(select(Attachment.id).where(Attachment.case_id == case.id)) is None
    after = set(folder.iterdir()) if folder.exists() else set()
    assert after == before  # nothing left on disk either


def test_a_refused_file_leaves_the_rest_of_the_form_as_typed(as_user, make):
    case, applicant = make.draft(complete=False)
    response = post_files(
        as_user(applicant), case, [(io.BytesIO(DISGUISED[0][0]), DISGUISED[0][1])]
    )
    assert response.status_code == 422
    page = text(response)
    assert 'value="9"' in page and 'value="17"' in page
    assert "Giấy khen của xã" in page and "Sổ theo dõi" in page
    saved = dict(
        db.session.execute(
            select(AssessmentItem.code, AssessmentItem.score).where(
                AssessmentItem.case_id == case.id
            )
        ).all()
    )
    assert saved["1.1"] == 9 and saved["2.2"] == 17


def test_a_request_over_the_size_limit_is_a_clear_413(as_user, make, ctx):
    case, applicant = make.draft(complete=False)
    ctx.config["MAX_CONTENT_LENGTH"] = 2000
    try:
        response = post_files(as_user(applicant), case, [(io.BytesIO(JPEG * 40), "to.jpg")])
    finally:
        ctx.config["MAX_CONTENT_LENGTH"] = 40 * 1024 * 1024
    assert response.status_code == 413
    assert "Tệp tải lên quá lớn" in text(response)
    assert db.session.scalar(select(Attachment.id).where(Attachment.case_id == case.id)) is None


def test_names_are_cleaned_and_files_are_kept_outside_the_web_root(as_user, make, ctx):
    case, applicant = make.draft(complete=False)
    nasty = '..\\..\\static/<img src=x onerror=alert(1)>"; rm -rf.pdf'
    response = post_files(as_user(applicant), case, [(io.BytesIO(PDF), nasty)])
    assert response.status_code == 302
    attachment = db.session.scalar(select(Attachment).where(Attachment.case_id == case.id))
    assert attachment.filename.startswith("img src=x onerror=alert(1)")
    assert attachment.filename.endswith(".pdf")
    assert not set('<>"/\\:') & set(attachment.filename)
    assert attachment.content_type == "application/pdf"
    path = stored_path(case.id, attachment.stored_name).resolve()
    assert path.is_file() and path.read_bytes() == PDF
    assert path.name == attachment.stored_name and "onerror" not in path.name
    static = Path(ctx.static_folder).resolve()
    assert static not in path.parents
    assert ctx.test_client().get(f"/static/{attachment.stored_name}").status_code == 404


def test_files_are_served_only_in_scope_and_never_run_by_the_browser(as_user, make, ctx):
    case, applicant = make.draft(complete=False)
    post_files(as_user(applicant), case, [(io.BytesIO(PDF), "Biên bản.pdf")])
    attachment = db.session.scalar(select(Attachment).where(Attachment.case_id == case.id))
    url = f"/cases/{case.id}/files/{attachment.id}"
    for reader in (applicant, make.user("commune_reviewer", COMMUNE)):
        response = as_user(reader).get(url)
        assert response.status_code == 200 and response.data == PDF
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert "Bi%C3%AAn%20b%E1%BA%A3n.pdf" in response.headers["Content-Disposition"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        policy = response.headers["Content-Security-Policy"]
        assert "sandbox" in policy and "default-src 'none'" in policy
        assert "no-store" in response.headers["Cache-Control"]
    outsiders = [
        make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT),
        make.user("district_reviewer", OTHER_DISTRICT),
        make.applicant(make.subject()),
    ]
    for outsider in outsiders:
        response = as_user(outsider).get(url)
        assert response.status_code == 404 and PDF not in response.data
    other_case, _ = make.draft(complete=False)
    wrong_pair = as_user(applicant).get(f"/cases/{other_case.id}/files/{attachment.id}")
    assert wrong_pair.status_code == 404
    anonymous = Browser(ctx.test_client()).get(url)
    assert anonymous.status_code in (302, 401) and PDF not in anonymous.data
