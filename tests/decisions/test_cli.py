"""The ``decisions`` commands: draft (prints the id), issue, pdf, certificates."""

from __future__ import annotations

import pytest
from pypdf import PdfReader

from htsd_workflow.decisions.models import Decision
from htsd_workflow.extensions import db
from tests.factories import COMMUNE, DISTRICT

pytestmark = pytest.mark.pinned_clock  # drafts and rounds of 2026, dates of that December


def test_a_decision_is_drafted_issued_and_printed_from_the_command_line(
    ctx, make, recognised, tmp_path
):
    recognised()
    recognised()
    officer = make.reviewer("commune_reviewer", COMMUNE)
    manager = make.user("manager", DISTRICT)
    db.session.commit()
    runner = ctx.test_cli_runner()
    drafted = runner.invoke(
        args=["decisions", "draft", "--title", "family", "--year", "2026"]
        + ["--unit", COMMUNE, "--as", officer.username]
    )
    assert drafted.exit_code == 0, drafted.output
    decision_id = int(drafted.output.strip())
    issued = runner.invoke(
        args=["decisions", "issue", str(decision_id), "--number", "12/QĐ-UBND"]
        + ["--date", "2026-12-20", "--signer", "Nguyễn Văn A", "--as", manager.username]
    )
    assert issued.exit_code == 0, issued.output
    db.session.expire_all()
    assert db.session.get(Decision, decision_id).status == "issued"
    again = runner.invoke(
        args=["decisions", "issue", str(decision_id), "--number", "13"]
        + ["--date", "2026-12-21", "--signer", "B", "--as", manager.username]
    )
    assert again.exit_code != 0 and "đã được ban hành" in again.output
    decision_file, certificates = tmp_path / "qd.pdf", tmp_path / "gcn.pdf"
    assert (
        runner.invoke(
            args=["decisions", "pdf", str(decision_id), "--out", str(decision_file)]
        ).exit_code
        == 0
    )
    done = runner.invoke(
        args=["decisions", "certificates", str(decision_id), "--out", str(certificates)]
    )
    assert done.exit_code == 0, done.output
    assert decision_file.read_bytes().startswith(b"%PDF")
    assert len(PdfReader(str(certificates)).pages) == 2
