"""Command-line interface: ``flask --app htsd_workflow <group> <command>``."""

from __future__ import annotations

import functools
import json
from datetime import date

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from htsd_workflow.admin.operations import set_calendar_exception
from htsd_workflow.auth.models import User
from htsd_workflow.auth.operations import create_user, deactivate_user, issue_login_slips
from htsd_workflow.cases.checks import find_disagreements, repair
from htsd_workflow.cases.engine import get_registry
from htsd_workflow.cases.models import Case
from htsd_workflow.cases.operations import BULK_BATCH, carry_cases, set_round
from htsd_workflow.cases.rounds import list_rounds, save_round
from htsd_workflow.cases.startup import parse_state_map
from htsd_workflow.core.errors import ConfigurationError, DomainError
from htsd_workflow.core.time import LOCAL_TZ, to_utc_naive
from htsd_workflow.demo.seed import seed_demo, seed_demo_today
from htsd_workflow.deploy import backup, deploy
from htsd_workflow.extensions import db
from htsd_workflow.geography.operations import get_unit, import_province, set_commune_flags
from htsd_workflow.geography.reform import assign_subject, carry_out_reform
from htsd_workflow.imports.operations import run_import, template_xlsx, validate_import
from htsd_workflow.imports.specs import SPECS
from htsd_workflow.jobs.runner import commit_each
from htsd_workflow.notifications.operations import (
    DeliveryFailed,
    dispatch_pending,
    pending_delivery_ids,
    retry_failed,
)
from htsd_workflow.notifications.sending import send_delivery
from htsd_workflow.reports.months import close_months
from htsd_workflow.reports.operations import denominator_template, import_denominators
from htsd_workflow.sla.operations import ScanResult, scan_batches
from htsd_workflow.subjects.models import KINDS
from htsd_workflow.subjects.operations import create_subject
from htsd_workflow.subjects.privacy import erase_personal_data, export_personal_data


def committing(func):
    """Run a command in one transaction: commit on success, roll back and explain on error."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            result = func(*args, **kwargs)
            db.session.commit()
            return result
        except DomainError as exc:
            db.session.rollback()
            details = "".join(
                f"\n  - dòng {e['row']}, cột {e['column']}: {e['message']}"
                for e in exc.details.get("errors", [])
            ) or "".join(f"\n  - {k}: {v}" for k, v in exc.details.items())
            raise click.ClickException(exc.message + details) from exc
        except Exception:
            db.session.rollback()
            raise

    return wrapper


geo = AppGroup("geo", help="Geography: provinces, districts, communes (GSO codes).")
users = AppGroup("users", help="User accounts.")
subjects = AppGroup("subjects", help="Households, clans, communities and units.")
rounds = AppGroup("rounds", help="Yearly recognition rounds.")
calendar = AppGroup("calendar", help="Extra days off and make-up working days.")


@geo.command("import")
@click.option("--province", "province", required=True, help="GSO province code, e.g. 51")
@click.option(
    "--before-2025",
    "before_2025",
    is_flag=True,
    help="Import the province as it was until 30 June 2025 (with districts)",
)
@committing
def geo_import(province, before_2025):
    """Import a province (idempotent): from today's two-tier list when it is there, otherwise
    from the pre-2025 three-tier list."""
    result = import_province(province, before_2025=before_2025)
    if result.structure == "two_tier":
        click.echo("danh mục hiện hành (từ 01/7/2025): tỉnh và xã/phường, không có cấp huyện")
    elif before_2025:
        click.echo("danh mục trước 01/7/2025: tỉnh, huyện, xã")
    else:
        click.echo(
            f"mã {province} không có trong danh mục hiện hành; "
            "nhập theo danh mục trước 01/7/2025 (tỉnh, huyện, xã)"
        )
    click.echo(f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}")


@geo.command("reform")
@click.option("--province", "province", required=True, help="GSO code of the new province")
@click.option(
    "--effective",
    required=True,
    type=click.DateTime(["%Y-%m-%d"]),
    help="The first day of the new structure, e.g. 2025-07-01",
)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    help="old_state=new_state for running cases (over the workflow files' carried_from)",
)
@click.option("--dry-run", is_flag=True, help="Print what would happen; change nothing")
def geo_reform(province, effective, mappings, dry_run):
    """Carry every old unit that became part of PROVINCE into it (2025 reorganisation): units
    closed and opened, subjects, accounts and running cases moved, in one transaction."""
    try:
        report = carry_out_reform(
            province, effective.date(), state_map=parse_state_map(list(mappings))
        )
    except (DomainError, ConfigurationError) as exc:
        db.session.rollback()
        raise click.ClickException(str(getattr(exc, "message", exc))) from exc
    except Exception:
        db.session.rollback()
        raise
    click.echo(f"đơn vị mở: {report.units_opened}, đơn vị đóng: {report.units_closed}")
    click.echo(f"liên kết đơn vị cũ → mới: {report.successions}")
    click.echo(
        f"đối tượng chuyển: {report.subjects_moved}, tài khoản chuyển: {report.accounts_moved}, "
        f"tài khoản cấp huyện khóa: {report.accounts_deactivated}"
    )
    for (old, new), count in sorted(report.cases.items()):
        click.echo(f"hồ sơ đang xử lý {old} → {new}: {count}")
    if report.not_held:
        click.echo(f"đơn vị cũ trong bảng chuyển đổi nhưng không có trong CSDL: {report.not_held}")
    if report.to_assign:
        click.echo(f"đối tượng cần cán bộ chỉ định xã mới: {len(report.to_assign)}")
        for subject_id, name, unit_code, why in report.to_assign:
            reason = "xã bị chia" if why == "split" else "thuộc huyện đã bỏ"
            click.echo(f"  {subject_id} {name} ({unit_code}, {reason})")
        click.echo(
            "  (xã bị chia: trang /reform/subjects; mọi trường hợp: "
            "flask subjects assign ID --unit MÃ)"
        )
    if report.accounts_to_assign:
        click.echo(f"tài khoản cần quản trị chỉ định xã mới: {len(report.accounts_to_assign)}")
        for username, unit_code in report.accounts_to_assign:
            click.echo(f"  {username} ({unit_code}, xã bị chia)")
    if dry_run:
        db.session.rollback()
        click.echo("chạy thử (--dry-run): không thay đổi gì")
        return
    db.session.commit()
    click.echo("đã thực hiện" if report.changed else "không có gì thay đổi (đã thực hiện trước đó)")


@geo.command("set-flags")
@click.argument("code")
@click.option("--dbkk/--no-dbkk", default=None, help="Especially disadvantaged commune")
@click.option("--ethnic-minority/--no-ethnic-minority", default=None)
@click.option("--from-year", type=int, help="First year on the ĐBKK list")
@click.option("--to-year", type=int, help="Last year on the ĐBKK list")
@committing
def geo_set_flags(code, dbkk, ethnic_minority, from_year, to_year):
    """Set a commune's ĐBKK and ethnic-minority-area flags."""
    unit = set_commune_flags(
        code,
        is_dbkk=dbkk,
        is_ethnic_minority=ethnic_minority,
        from_year=from_year,
        to_year=to_year,
    )
    click.echo(f"{unit.code} {unit.name}: ĐBKK={unit.is_dbkk} DTTS={unit.is_ethnic_minority}")


@users.command("create")
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True)
@click.option("--unit", "unit_code", help="GSO code of the user's territory")
@click.option("--subject", "subject_id", type=int, help="Subject id, for applicants")
@click.option("--email")
@click.option("--name", "full_name")
@committing
def users_create(username, password, role, unit_code, subject_id, email, full_name):
    """Create a user account."""
    user = create_user(
        username,
        password,
        role,
        unit_code=unit_code,
        subject_id=subject_id,
        email=email,
        full_name=full_name,
    )
    click.echo(f"created user {user.id} {user.username} ({user.role}, {user.unit_code})")


@users.command("slips")
@click.argument("subject_ids", nargs=-1, type=int, required=True)
@click.option("--as", "username", required=True, help="The commune officer handing them out")
@click.option(
    "--village-heads",
    is_flag=True,
    help="The subjects are villages: create or reset their heads' accounts (village_head)",
)
@committing
def users_slips(subject_ids, username, village_heads):
    """Create or reset household (or village heads') accounts and print one-time slips."""
    role = "village_head" if village_heads else "applicant"
    for slip in issue_login_slips(list(subject_ids), _importer(username), role=role):
        click.echo(
            f"{slip['subject']}\n  Tên đăng nhập: {slip['username']}\n"
            f"  Mật khẩu dùng một lần: {slip['password']}\n"
            "  (Đăng nhập rồi đặt mật khẩu mới.)\n"
        )


@users.command("deactivate")
@click.argument("username")
@committing
def users_deactivate(username):
    """Lock a user out and release their claimed cases."""
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    released = deactivate_user(user)
    click.echo(f"deactivated {user.username}; released {released} claimed case(s)")


@subjects.command("create")
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--name", required=True)
@click.option("--unit", "unit_code", required=True, help="GSO code of the managing unit")
@click.option("--head", "head_name", help="Name of the head")
@click.option("--community", "community_id", type=int, help="A household's community id")
@click.option("--code", "external_code", help="Household code or other external key")
@committing
def subjects_create(kind, name, unit_code, head_name, community_id, external_code):
    """Create a subject and print its id."""
    subject = create_subject(
        kind,
        name,
        unit_code,
        head_name=head_name,
        community_id=community_id,
        external_code=external_code,
    )
    click.echo(subject.id)


@subjects.command("assign")
@click.argument("subject_id", type=int)
@click.option("--unit", "unit_code", required=True, help="The unit of today (key, e.g. 21136)")
@committing
def subjects_assign(subject_id, unit_code):
    """Place a subject left by `geo reform` (split commune, abolished district) under a unit of
    today; its running cases follow with a history row."""
    subject = assign_subject(subject_id, unit_code)
    click.echo(f"{subject.id} {subject.name}: {subject.unit_code}")


@subjects.command("export")
@click.argument("subject_id", type=int)
@click.option("--as", "username", required=True, help="An admin's username")
@committing
def subjects_export(subject_id, username):
    """Print everything held about a subject (personal-data request) as JSON."""
    data = export_personal_data(subject_id, _importer(username))
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@subjects.command("erase")
@click.argument("subject_id", type=int)
@click.option("--as", "username", required=True, help="An admin's username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
@committing
def subjects_erase(subject_id, username, yes):
    """Erase a subject's personal data, keeping anonymised figures."""
    if not yes:
        click.confirm("Erase this subject's personal data for good?", abort=True)
    erase_personal_data(subject_id, _importer(username))
    click.echo(f"subject {subject_id}: personal data erased")


@rounds.command("set")
@click.option("--title", required=True)
@click.option("--year", required=True, type=int)
@click.option("--opens", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--closes", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option("--review-deadline", required=True, type=click.DateTime(["%Y-%m-%d"]))
@click.option(
    "--level-deadline",
    "level_deadlines",
    multiple=True,
    help="A level's own deadline, e.g. commune=2027-06-30 (repeat for district, province)",
)
@committing
def rounds_set(title, year, opens, closes, review_deadline, level_deadlines):
    """Set a round's registration window and review deadline (and each level's own)."""
    found = set_round(title, year, opens.date(), closes.date(), review_deadline.date())
    if level_deadlines:
        levels = {}
        for given in level_deadlines:
            level, _sep, day = given.partition("=")
            try:
                levels[level.strip()] = date.fromisoformat(day.strip())
            except ValueError as exc:
                raise click.BadParameter(f"{given}: LEVEL=YYYY-MM-DD") from exc
        found = save_round(
            title,
            year,
            opens.date(),
            closes.date(),
            review_deadline.date(),
            None,
            level_deadlines=levels,
        )
    click.echo(
        f"{found.title} {found.year}: {found.registration_opens_on} – "
        f"{found.registration_closes_on}, review by {found.review_deadline}"
        + "".join(f", {k} by {v}" for k, v in (found.level_deadlines or {}).items())
    )


@rounds.command("list")
@click.option("--title", default=None)
@click.option("--year", default=None, type=int)
def rounds_list(title, year):
    """List rounds: title, year, registration window, review deadline."""
    for found in list_rounds(title=title, year=year):
        click.echo(
            f"{found.id}\t{found.title}\t{found.year}\t{found.registration_opens_on}\t"
            f"{found.registration_closes_on}\t{found.review_deadline}"
        )


@calendar.command("day-off")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--note", default="")
@committing
def calendar_day_off(day, note):
    """Add an extra day off."""
    set_calendar_exception(day.date(), False, note)
    click.echo(f"{day.date()}: day off")


@calendar.command("working-day")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--note", default="")
@committing
def calendar_working_day(day, note):
    """Add a make-up working day (e.g. a Saturday)."""
    set_calendar_exception(day.date(), True, note)
    click.echo(f"{day.date()}: working day")


@click.command("seed-demo")
@click.option("--cases", "case_count", default=3000, show_default=True)
@click.option(
    "--before-2025",
    "before_2025",
    is_flag=True,
    help="Kon Tum (62) as it was: three tiers, with districts, no reorganisation",
)
@committing
def seed_demo_command(case_count, before_2025):
    """Load the demo (idempotent): today's Quảng Ngãi (51), two-tier, with Kon Tum's three-tier
    years carried across the 2025 reorganisation; or, with --before-2025, Kon Tum as it was."""
    if before_2025:
        accounts = seed_demo(case_count=case_count, today=date.today())
    else:
        accounts = seed_demo_today(case_count=case_count, today=date.today())
    width = max(len(a["username"]) for a in accounts)
    click.echo(f"{'username'.ljust(width)}  password      role                unit")
    for account in accounts:
        click.echo(
            f"{account['username'].ljust(width)}  {account['password']:<12}  "
            f"{account['role']:<18}  {account['unit']}"
        )


imports = AppGroup("imports", help="Spreadsheet imports of communities, households, clans, units.")


def _importer(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username.lower()))
    if user is None or not user.is_active:
        raise click.ClickException(f"no active user {username!r}")
    return user


@imports.command("template")
@click.argument("kind", type=click.Choice(sorted(SPECS)))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def imports_template(kind, out):
    """Write the XLSX template (Vietnamese headers) for KIND."""
    with open(out, "wb") as handle:
        handle.write(template_xlsx(kind))
    click.echo(out)


@imports.command("check")
@click.argument("kind", type=click.Choice(sorted(SPECS)))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", required=True, help="The importing user (sets the territory)")
@committing
def imports_check(kind, path, username):
    """Validate a file row by row; import nothing."""
    with open(path, "rb") as raw:
        report = validate_import(kind, raw, _importer(username))
    for error in report.errors:
        click.echo(f"dòng {error.row}, cột {error.column}: {error.message}")
    click.echo(f"{report.rows} dòng, {report.error_count} lỗi")
    if not report.is_clean:
        raise click.ClickException("the file has errors; nothing was imported")


@imports.command("run")
@click.argument("kind", type=click.Choice(sorted(SPECS)))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", required=True, help="The importing user (sets the territory)")
@committing
def imports_run(kind, path, username):
    """Import a file: all rows or, if any row is wrong, none."""
    with open(path, "rb") as raw:
        result = run_import(kind, raw, _importer(username))
    click.echo(f"created {result.created}, updated {result.updated}, unchanged {result.unchanged}")


sla = AppGroup("sla", help="Deadlines: the escalation scan.")
outbox = AppGroup("outbox", help="Notifications waiting to be delivered.")


@sla.command("scan")
@click.option(
    "--at",
    "at",
    type=click.DateTime(["%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
    help="The moment to treat as now (local time), for tests and back-filling",
)
def sla_scan(at):
    """Apply the reminder/escalation ladder to every open case (what beat runs)."""
    now = to_utc_naive(at.replace(tzinfo=LOCAL_TZ)) if at else None
    result = ScanResult.of(commit_each(scan_batches(now)))  # committed batch by batch
    rungs = ", ".join(f"rung {r}: {n}" for r, n in sorted(result.fired.items())) or "nothing due"
    click.echo(rungs)


@outbox.command("drain")
def outbox_drain():
    """Deliver everything pending now, in this process (in-app messages and e-mails)."""
    messages = sent = 0
    while True:
        result = dispatch_pending()
        db.session.commit()
        messages += result.messages
        if result.messages == 0:
            break
    for delivery_id in pending_delivery_ids(limit=100000):
        try:
            sent += send_delivery(delivery_id) == "sent"
        except DeliveryFailed as exc:
            click.echo(f"e-mail {delivery_id} failed, will be retried: {exc}", err=True)
    click.echo(f"{messages} event(s) delivered, {sent} e-mail(s) sent")


@outbox.command("retry-failed")
@click.option("--as", "username", help="An admin's username: only that admin's province")
@committing
def outbox_retry_failed(username):
    """Put e-mails that gave up back in the queue (every province's, or one admin's)."""
    actor = _importer(username) if username else None
    click.echo(f"{len(retry_failed(actor))} e-mail(s) queued again")


reports = AppGroup("reports", help="Report data: denominators, figures of closed months.")


@reports.command("denominators")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--as", "username", required=True, help="The importing user (sets the territory)")
@committing
def reports_denominators(path, username):
    """Import households/clans/communities/units counts per commune and year (XLSX or CSV)."""
    with open(path, "rb") as raw:
        written = import_denominators(raw, _importer(username))
    click.echo(f"{written} figure(s) written or changed")


@reports.command("denominators-template")
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def reports_denominators_template(out):
    """Write the denominators template (Vietnamese headers)."""
    with open(out, "wb") as handle:
        handle.write(denominator_template())
    click.echo(out)


@reports.command("close-months")
@committing
def reports_close_months():
    """Count the stage visits of each month that is over into its monthly figures, and count
    again the closed months whose visits changed (what the worker does every night)."""
    result = close_months()
    click.echo(
        f"closed {len(result.closed)} month(s), counted again {len(result.recounted)}, "
        f"{result.cells:,} cell(s) written"
    )


cases = AppGroup("cases", help="Cases: check that their stored facts agree.")


@cases.command("check")
@click.option(
    "--repair", "do_repair", is_flag=True, help="Put each right, with an audit entry each."
)
def cases_check(do_repair):
    """List the cases whose stored facts disagree (all departments signed but not recognised,
    a stage visit left open, a claim on a finished case …); with --repair, put each right
    through the normal operation, with an audit entry each. Exits with 1 while any is left."""
    found = find_disagreements()
    for item in found:
        click.echo(str(item))
    if not found:
        click.echo("no disagreements")
        return
    if not do_repair:
        db.session.rollback()
        click.echo(f"{len(found)} disagreement(s); run with --repair to put them right")
        raise SystemExit(1)
    committing(repair)(found)
    left = find_disagreements()
    db.session.rollback()
    click.echo(f"repaired {len(found)} disagreement(s); {len(left)} left")
    for item in left:
        click.echo(f"left: {item}")
    if left:
        raise SystemExit(1)


workflows = AppGroup("workflows", help="Workflow definitions under running cases.")


def _territory_clause(unit_code: str | None):
    """Cases inside the unit ``unit_code`` (any level), or every case."""
    if not unit_code:
        return True
    unit = get_unit(unit_code)
    column = {
        "province": Case.province_code,
        "district": Case.district_code,
        "commune": Case.commune_code,
    }[unit.level]
    return column == unit.code


@workflows.command("migrate")
@click.option("--from", "from_set", required=True, help="The set the cases run under now")
@click.option("--to", "to_set", required=True, help="The set to carry them to")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    help="old_state=new_state (over the target file's carried_from); repeatable",
)
@click.option("--unit", "unit_code", help="Only the cases of this unit (GSO code)")
@click.option("--dry-run", is_flag=True, help="Say what would move; change nothing")
def workflows_migrate(from_set, to_set, mappings, unit_code, dry_run):
    """Carry running cases from one workflow set to another, with a history row each
    (resumable: committed in batches; a second run finds nothing left to carry)."""
    registry = get_registry()
    for name in (from_set, to_set):
        if name not in registry.sets:
            raise click.ClickException(
                f"no workflow set {name!r} (there are: {', '.join(registry.sets)})"
            )
    try:
        state_map = {
            **parse_state_map(current_app.config.get("WORKFLOW_STATE_MAP")),
            **parse_state_map(list(mappings)),
        }
        ids = list(
            db.session.scalars(
                select(Case.id)
                .where(
                    Case.is_open.is_(True),
                    Case.workflow.like(f"{from_set}/%"),
                    _territory_clause(unit_code),
                )
                .order_by(Case.id)
            )
        )
        plan = carry_cases(ids, to_set, state_map=state_map, comment="", dry_run=True)
    except (DomainError, ConfigurationError) as exc:
        db.session.rollback()
        raise click.ClickException(str(getattr(exc, "message", exc))) from exc
    for (set_name, old, new), count in sorted(plan.moves.items()):
        click.echo(f"{set_name}/{old} → {to_set}/{new}: {count}")
    if plan.unmapped:
        db.session.rollback()
        raise click.ClickException(
            "; ".join(
                f"{len(case_ids)} case(s) in {state!r}, which {to_set} does not have: "
                f"give --map {state}=<state>"
                for state, case_ids in plan.unmapped.items()
            )
        )
    if dry_run:
        db.session.rollback()
        click.echo(f"dry run: {plan.total} case(s) would be carried; nothing changed")
        return
    comment = f"Chuyển sang quy trình {to_set} (thay đổi định nghĩa quy trình)"
    with click.progressbar(length=len(ids), label="carrying") as bar:
        for start in range(0, len(ids), BULK_BATCH):
            batch = ids[start : start + BULK_BATCH]
            carry_cases(batch, to_set, state_map=state_map, comment=comment)
            db.session.commit()
            bar.update(len(batch))
    click.echo(f"carried {plan.total} case(s) to {to_set}")


def register_cli(app: Flask) -> None:
    from htsd_workflow.decisions.cli import decisions  # here: it uses this module's helpers

    app.cli.add_command(decisions)
    for group in (
        geo,
        users,
        subjects,
        rounds,
        calendar,
        deploy,
        backup,
        imports,
        sla,
        outbox,
        reports,
        cases,
        workflows,
    ):
        app.cli.add_command(group)
    app.cli.add_command(seed_demo_command)
