"""Photos are shrunk on the server: at most 1,600 px, upright, without their location."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import select

from htsd_workflow.evidence.files import stored_path
from htsd_workflow.evidence.models import Attachment
from htsd_workflow.extensions import db
from tests.clients import text

ORIENTATION, GPS_IFD = 0x0112, 0x8825


def _phone_photo() -> bytes:
    """A 4000×3000 JPEG as a phone stores it: lying on its side (EXIF orientation 6, "turn
    90° clockwise to view") and with a GPS position."""
    image = Image.new("RGB", (4000, 3000), (200, 30, 30))
    image.paste((20, 20, 200), (0, 0, 4000, 300))  # a blue band along the top edge
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[GPS_IFD] = {1: "N", 2: (14.0, 21.0, 0.0), 3: "E", 4: (108.0, 0.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def test_a_phone_photo_is_kept_small_upright_and_without_its_location(as_user, make):
    case, applicant = make.draft(complete=False)
    original = _phone_photo()
    response = as_user(applicant).post(
        f"/cases/{case.id}/assessment",
        {
            "version": str(case.version),
            "action": "save",
            "score-1.1": "10",
            "evidence-1.1": "ảnh giấy khen",
            "files-1.1": [(io.BytesIO(original), "IMG_0001.jpg")],
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, text(response)[:500]
    (kept,) = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id))
    path = stored_path(case.id, kept.stored_name)
    assert kept.size == path.stat().st_size < len(original)
    with Image.open(path) as photo:
        assert photo.size == (1200, 1600)  # turned upright, then shrunk to 1,600 px
        exif = photo.getexif()
        assert GPS_IFD not in exif and ORIENTATION not in exif
        # the blue band that was along the top now runs down the right side
        assert photo.getpixel((1190, 800))[2] > 150 and photo.getpixel((10, 800))[0] > 150


def test_reviewers_see_photos_in_the_page_served_safely(as_user, make):
    from tests.factories import COMMUNE, OTHER_COMMUNE_SAME_DISTRICT

    case, applicant = make.draft(complete=False)
    small = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 10)).save(small, "JPEG")
    as_user(applicant).post(
        f"/cases/{case.id}/assessment",
        {
            "version": str(case.version),
            "action": "save",
            "files-1.1": [(io.BytesIO(small.getvalue()), "giay.jpg")],
        },
        content_type="multipart/form-data",
    )
    (kept,) = db.session.scalars(select(Attachment).where(Attachment.case_id == case.id))
    view_url = f"/cases/{case.id}/files/{kept.id}/view"
    reviewer = as_user(make.user("commune_reviewer", COMMUNE))
    page = text(reviewer.get(f"/cases/{case.id}"))
    assert f'<img src="{view_url}"' in page  # a thumbnail, opening the photo
    shown = reviewer.get(view_url)
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    policy = shown.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
    other = as_user(make.user("commune_reviewer", OTHER_COMMUNE_SAME_DISTRICT))
    assert other.get(view_url).status_code == 404
