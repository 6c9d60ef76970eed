"""The commands the README documents, run through Flask's CLI runner."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import issue_login_slips, set_password
from htsd_workflow.core.calendar import get_calendar
from htsd_workflow.core.errors import InvalidInput
from htsd_workflow.extensions import db
from htsd_workflow.geography.models import Unit
from htsd_workflow.subjects.models import Subject


def run(ctx, *args):
    return ctx.test_cli_runner().invoke(args=list(args))


def test_kon_tum_has_10_districts_and_102_communes_and_reimport_changes_nothing(ctx):
    result = run(ctx, "geo", "import", "--province", "62")
    assert result.exit_code == 0, result.output
    assert "created 0, updated 0, unchanged 113" in result.output
    levels = dict(
        db.session.execute(
            select(Unit.level, func.count()).where(Unit.province_code == "62").group_by(Unit.level)
        ).all()
    )
    assert levels == {"province": 1, "district": 10, "commune": 102}
    dak_ha = db.session.get(Unit, "615")
    assert dak_ha.name == "Huyện Đắk Hà" and dak_ha.name_search == "huyen dak ha"


def test_flags_are_kept_when_geography_is_imported_again(ctx):
    assert run(ctx, "geo", "set-flags", "23500", "--dbkk", "--from-year", "2016").exit_code == 0
    run(ctx, "geo", "import", "--province", "62")
    db.session.expire_all()
    assert db.session.get(Unit, "23500").is_dbkk is True


def test_unknown_province_is_a_clear_error(ctx):
    result = run(ctx, "geo", "import", "--province", "99")
    assert result.exit_code != 0 and "Không có tỉnh mã 99" in result.output


def test_subjects_and_users_are_created_from_the_command_line(ctx):
    result = run(
        ctx, "subjects", "create", "--kind", "family", "--name", "Hộ A Blong", "--unit", "23281"
    )
    assert result.exit_code == 0, result.output
    subject_id = int(result.output.strip())
    assert db.session.get(Subject, subject_id).name == "Hộ A Blong"
    result = run(
        ctx,
        "users",
        "create",
        "--username",
        "ablong",
        "--password",
        "mat-khau-1",
        "--role",
        "applicant",
        "--subject",
        str(subject_id),
    )
    assert result.exit_code == 0, result.output
    result = run(
        ctx,
        "users",
        "create",
        "--username",
        "xa1",
        "--password",
        "mat-khau-1",
        "--role",
        "commune_reviewer",
        "--unit",
        "23281",
        "--email",
        "xa1@example.vn",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "xa1"))
    assert user.unit_level == "commune" and user.check_password("mat-khau-1")


def test_bad_input_on_the_command_line_names_the_problem_and_writes_nothing(ctx):
    result = run(ctx, "subjects", "create", "--kind", "family", "--name", "Hộ B", "--unit", "0000")
    assert result.exit_code != 0 and "0000" in result.output
    result = run(
        ctx,
        "users",
        "create",
        "--username",
        "h1",
        "--password",
        "mat-khau-1",
        "--role",
        "district_reviewer",
        "--unit",
        "23281",
    )
    assert result.exit_code != 0 and "cấp district" in result.output
    result = run(
        ctx,
        "users",
        "create",
        "--username",
        "h2",
        "--password",
        "123",
        "--role",
        "admin",
        "--unit",
        "62",
    )
    assert result.exit_code != 0 and "8 ký tự" in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0
    assert db.session.scalar(select(func.count()).select_from(Subject)) == 0


def test_rounds_and_calendar_commands(ctx):
    result = run(
        ctx,
        "rounds",
        "set",
        "--title",
        "family",
        "--year",
        "2027",
        "--opens",
        "2027-01-15",
        "--closes",
        "2027-04-30",
        "--review-deadline",
        "2027-12-10",
    )
    assert result.exit_code == 0 and "2027-01-15" in result.output
    listed = run(ctx, "rounds", "list", "--year", "2027")
    assert listed.exit_code == 0
    assert listed.output.split("\t")[1:] == [
        "family",
        "2027",
        "2027-01-15",
        "2027-04-30",
        "2027-12-10\n",
    ]
    # a level's own deadline, checked as on the page
    result = run(
        ctx,
        *("rounds", "set", "--title", "family", "--year", "2027", "--opens", "2027-01-15"),
        *("--closes", "2027-04-30", "--review-deadline", "2027-12-10"),
        *("--level-deadline", "commune=2027-06-30"),
    )
    assert result.exit_code == 0 and "commune by 2027-06-30" in result.output
    refused = run(
        ctx,
        *("rounds", "set", "--title", "family", "--year", "2027", "--opens", "2027-01-15"),
        *("--closes", "2027-04-30", "--review-deadline", "2027-12-10"),
        *("--level-deadline", "commune=2028-01-01"),
    )
    assert refused.exit_code != 0
    assert run(ctx, "calendar", "working-day", "2027-02-20", "--note", "Làm bù").exit_code == 0
    assert run(ctx, "calendar", "day-off", "2027-03-08").exit_code == 0
    calendar = get_calendar()
    assert calendar.is_working_day(date(2027, 2, 20))
    assert not calendar.is_working_day(date(2027, 3, 8))


def test_login_slips_create_accounts_with_one_time_passwords(ctx, make):
    officer = make.user("commune_reviewer", "23281")
    household = make.subject("family", "23281", external_code="H23281-0007")
    elsewhere = make.subject("family", "23284")
    slips = issue_login_slips([household.id], officer)
    assert slips[0]["username"] == "h23281-0007"
    user = db.session.scalar(select(User).where(User.username == "h23281-0007"))
    assert user.check_password(slips[0]["password"]) and user.must_change_password
    again = issue_login_slips([household.id], officer)  # a reset: same account, new password
    assert again[0]["username"] == slips[0]["username"]
    assert not user.check_password(slips[0]["password"])
    set_password(user, "mat-khau-moi-1")
    assert not user.must_change_password
    with pytest.raises(InvalidInput):
        issue_login_slips([elsewhere.id], officer)


def test_login_slips_from_the_command_line(ctx, make):
    officer = make.user("commune_reviewer", "23281")
    household = make.subject("family", "23281", external_code="H23281-0042")
    result = ctx.test_cli_runner().invoke(
        args=["users", "slips", str(household.id), "--as", officer.username]
    )
    assert result.exit_code == 0, result.output
    assert "h23281-0042" in result.output and "Mật khẩu dùng một lần" in result.output
