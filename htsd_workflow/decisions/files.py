"""A decision's PDF and a case's certificate as HTTP answers (pages, API and CLI alike)."""

from __future__ import annotations

from flask import Response

from htsd_workflow.decisions import pdf as pdfs
from htsd_workflow.decisions.models import Decision, DecisionEntry
from htsd_workflow.decisions.operations import store_pdf
from htsd_workflow.decisions.signing import sign_pdf


def _pdf(body: bytes, filename: str) -> Response:
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def decision_pdf_bytes(decision: Decision) -> bytes:
    """An issued decision's PDF as first made and kept (signed when a key is configured);
    a draft's is made afresh, marked DỰ THẢO, never signed."""
    if not decision.is_issued:
        return pdfs.decision_pdf(decision)
    if decision.pdf is not None:
        return decision.pdf
    body, signed = sign_pdf(pdfs.decision_pdf(decision))
    return store_pdf(decision, body, signed=signed)


def decision_pdf_response(decision: Decision) -> Response:
    return _pdf(decision_pdf_bytes(decision), f"quyet-dinh-{decision.id}.pdf")


def certificate_response(entry: DecisionEntry) -> Response:
    body = pdfs.certificates_pdf(entry.decision, [entry])
    return _pdf(body, f"giay-cong-nhan-{entry.case_id}.pdf")
