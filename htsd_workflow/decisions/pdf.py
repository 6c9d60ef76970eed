"""The decision (NĐ 30/2020/NĐ-CP form) and the certificates as PDF, with WeasyPrint; the
certificate's QR code (segno) is inline SVG. Fonts: DejaVu Serif (Vietnamese glyphs)."""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale

from htsd_workflow.core.labels import TITLE_LABELS
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import format_code
from htsd_workflow.decisions.queries import valid_until
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit

#: what the list calls those recognised, per title
RECOGNISED_NOUNS = {
    "family": "hộ gia đình",
    "clan": "dòng họ",
    "community": "cộng đồng",
    "commune": "xã, phường, thị trấn",
    "unit": "đơn vị",
}


def write_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: Pango loads only when a PDF is asked for
    from weasyprint.urls import URLFetcher

    class NoFetch(URLFetcher):
        def fetch(self, url, headers=None):
            raise ValueError(f"not fetched for a PDF: {url}")

    return HTML(string=html, url_fetcher=NoFetch()).write_pdf()


def verify_url(code: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/verify/" + code


def qr_svg(url: str) -> str:
    import segno

    return segno.make(url, error="m").svg_inline(scale=3, border=2, omitsize=False)


def _title_label(title: str) -> str:
    with force_locale("vi"):
        return str(TITLE_LABELS.get(title, title))


#: the words a unit's name starts with, left out where a document names the place
_DIVISION_WORDS = (
    "Thành phố ",
    "Thị trấn ",
    "Thị xã ",
    "Phường ",
    "Huyện ",
    "Quận ",
    "Tỉnh ",
    "Xã ",
)


def place_name(unit_code: str) -> str:
    unit = db.session.get(Unit, unit_code)
    name = unit.name if unit is not None else ""
    for word in _DIVISION_WORDS:
        if name.startswith(word):
            return name[len(word) :]
    return name


def _common(decision: Decision) -> dict:
    return {
        "place": place_name(decision.unit_code),
        "decision": decision,
        "title_label": _title_label(decision.title),
        "noun": RECOGNISED_NOUNS.get(decision.title, "đối tượng"),
        "valid_until": valid_until(decision),
    }


def decision_pdf(decision: Decision) -> bytes:
    html = render_template(
        "decisions/decision_pdf.html", entries=decision.entries, **_common(decision)
    )
    return write_pdf(html)


def certificates_html(decision: Decision, entries: list[DecisionEntry]) -> str:
    pages = []
    for entry in entries:
        url = verify_url(entry.code)
        pages.append(
            {"entry": entry, "url": url, "qr": qr_svg(url), "code": format_code(entry.code)}
        )
    return render_template("decisions/certificates_pdf.html", pages=pages, **_common(decision))


def certificates_pdf(decision: Decision, entries: list[DecisionEntry]) -> bytes:
    """One A4 landscape page per certificate."""
    return write_pdf(certificates_html(decision, entries))
