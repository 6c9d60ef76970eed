"""``flask --app htsd_workflow decisions …``: draft, issue, and print decisions and certificates."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from htsd_workflow.cli import _importer, committing
from htsd_workflow.core.titles import TITLES
from htsd_workflow.decisions import pdf as pdfs
from htsd_workflow.decisions.models import Decision
from htsd_workflow.decisions.operations import draft_decision, issue_decision
from htsd_workflow.extensions import db

decisions = AppGroup("decisions", help="Recognition decisions and certificates.")


def _decision(decision_id: int) -> Decision:
    decision = db.session.get(Decision, decision_id)
    if decision is None:
        raise click.ClickException(f"no decision {decision_id}")
    return decision


@decisions.command("draft")
@click.option("--title", required=True, type=click.Choice(TITLES))
@click.option("--year", required=True, type=int)
@click.option("--unit", "unit_code", required=True, help="GSO code of the issuing territory")
@click.option("--as", "username", required=True, help="An officer of the issuing level")
@committing
def decisions_draft(title, year, unit_code, username):
    """Draft a decision listing the territory's recognised cases; prints its id."""
    decision = draft_decision(title, year, unit_code, _importer(username))
    db.session.flush()
    click.echo(decision.id)


@decisions.command("issue")
@click.argument("decision_id", type=int)
@click.option("--number", required=True, help='e.g. "12/QĐ-UBND" (or 12: the file\'s pattern)')
@click.option("--date", "issued_on", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--signer", "signer_name", required=True, help="The signer's full name")
@click.option("--as", "username", required=True, help="A manager of the territory")
@committing
def decisions_issue(decision_id, number, issued_on, signer_name, username):
    """Issue a draft: it never changes afterwards; every listed household is told."""
    decision = issue_decision(
        decision_id, number, issued_on.date(), signer_name, _importer(username)
    )
    click.echo(f"{decision.number} ({len(decision.entries)})")


@decisions.command("pdf")
@click.argument("decision_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
@committing
def decisions_pdf(decision_id, out):
    """Write the decision's PDF (signed when a key is configured)."""
    from htsd_workflow.decisions.files import decision_pdf_bytes

    Path(out).write_bytes(decision_pdf_bytes(_decision(decision_id)))
    click.echo(out)


@decisions.command("certificates")
@click.argument("decision_id", type=int)
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def decisions_certificates(decision_id, out):
    """Write all certificates of an issued decision, one per page."""
    decision = _decision(decision_id)
    if not decision.is_issued:
        raise click.ClickException("the decision is not issued yet")
    Path(out).write_bytes(pdfs.certificates_pdf(decision, decision.entries))
    click.echo(f"{out} ({len(decision.entries)})")
