"""After a reorganisation: the page where a province officer places the subjects of a commune
split between several new ones under one of its successors (``geo reform`` lists them)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from htsd_workflow.auth.access import access
from htsd_workflow.auth.roles import SUBJECT_ASSIGNERS
from htsd_workflow.core import transaction
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.core.labels import KIND_LABELS
from htsd_workflow.core.text import whole_number
from htsd_workflow.geography.reform import assign_split_subjects, subjects_awaiting_assignment

bp = Blueprint("geography", __name__)

#: the longest unit key a form may send (longer is typed by hand, never chosen)
_KEY_LIMIT = 20


def _groups(awaiting) -> list[dict]:
    """The subjects by old commune, each with the commune's successors."""
    groups: dict[str, dict] = {}
    for item in awaiting:
        group = groups.setdefault(
            item.old_unit.code,
            {"old_unit": item.old_unit, "candidates": item.candidates, "subjects": []},
        )
        group["subjects"].append(item)
    return list(groups.values())


def _choices(form, awaiting) -> dict[int, str]:
    """subject id → chosen unit key: a row's own choice, else, for a ticked row, its old
    commune's choice for all ticked rows. 400 for a field no page of ours sends."""
    old_of = {item.subject.id: item.old_unit.code for item in awaiting}
    choices: dict[int, str] = {}
    ticked = set()
    for value in form.getlist("subject"):
        subject_id = whole_number(value, 1)
        if subject_id is None:
            raise InvalidInput(_l("Mã đối tượng không hợp lệ."), details={"subject": value[:40]})
        ticked.add(subject_id)
    for key, value in form.items():
        if not key.startswith("unit-") or not value:
            continue
        subject_id = whole_number(key.removeprefix("unit-"), 1)
        if subject_id is None or len(value) > _KEY_LIMIT:
            raise InvalidInput(_l("Mã đối tượng không hợp lệ."), details={"subject": key[:40]})
        choices[subject_id] = value
    for subject_id in ticked - set(choices):
        bulk = form.get(f"bulk-{old_of.get(subject_id, '')}", "")
        if bulk and len(bulk) <= _KEY_LIMIT:
            choices[subject_id] = bulk
        else:
            raise InvalidInput(
                _l("Chọn xã mới cho các đối tượng đã đánh dấu."),
                details={str(subject_id): _l("Chọn xã mới")},
            )
    return choices


@bp.route("/reform/subjects", methods=["GET", "POST"])
@access(*SUBJECT_ASSIGNERS)
def assign_subjects():
    """The subjects of split communes in the user's province still under their old commune,
    each with the successor communes to choose from, one by one or ticked together."""
    awaiting = subjects_awaiting_assignment(current_user)
    error, details, status = None, {}, 200
    if request.method == "POST":
        try:
            with transaction.undone_on_refusal():
                moved = assign_split_subjects(_choices(request.form, awaiting), current_user)
        except InvalidInput as exc:
            error, details, status = exc.message, exc.details, 422
        else:
            if moved:
                flash(_("Đã chỉ định xã mới cho %(num)s đối tượng.", num=moved), "success")
            else:
                flash(_("Không có gì thay đổi: các đối tượng đã ở xã đã chọn."), "success")
            return redirect(url_for("geography.assign_subjects"))
    return (
        render_template(
            "geography/assign_subjects.html",
            groups=_groups(awaiting),
            kinds=KIND_LABELS,
            form=request.form,
            error=error,
            details=details,
        ),
        status,
    )
