"""``python -m bench.data …``: generate and empty benchmark data (PostgreSQL).

A developer's tool, kept out of the deployed application: ``reset`` empties every data table,
so it is not one of the app's ``flask`` commands. It reads the same settings as the app
(``DATABASE_URL``, …)."""

from __future__ import annotations

import click
from flask import Flask

from bench.data.dataset import BENCH_PASSWORD, BenchDataError, generate, reset
from htsd_workflow import create_app


@click.group(help="Benchmark data at scale (PostgreSQL only).")
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Run each command inside the app's context (``ctx.obj``: an app a test passes in)."""
    app = ctx.obj if isinstance(ctx.obj, Flask) else create_app()
    ctx.with_resource(app.app_context())


@bench.command("generate")
@click.option("--cases", "case_count", type=int, required=True, help="How many cases, e.g. 1000000")
@click.option("--years", default="2023-2026", show_default=True, help="First-last year of cases")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed")
@click.option("--province", default="62", show_default=True, help="GSO code of the province")
def generate_command(case_count, years, seed, province):
    """Load subjects, accounts and cases with their history into an empty database."""
    try:
        result = generate(
            case_count, years=years, seed=seed, province_code=province, progress=click.echo
        )
    except BenchDataError as exc:
        raise click.ClickException(exc.message) from exc
    width = max(len(t) for t in result.rows)
    for table, rows in result.rows.items():
        click.echo(f"  {table.ljust(width)}  {rows:>12,}")
    click.echo(f"  {'total'.ljust(width)}  {result.total_rows:>12,}")
    for year, states in sorted(result.states.items()):
        parts = ", ".join(f"{s} {n:,}" for s, n in sorted(states.items(), key=lambda x: -x[1]))
        click.echo(f"  {year}: {parts}")
    seconds = result.seconds
    click.echo(
        f"done in {seconds['total']:.1f} s (load {seconds['load']:.1f} s, indexes "
        f"{seconds['indexes']:.1f} s, foreign keys {seconds['foreign_keys']:.1f} s, analyze "
        f"{seconds['analyze']:.1f} s); {result.total_rows / seconds['total']:,.0f} rows/s"
    )
    click.echo(
        f"accounts: xa<commune>, huyen<district>, sogddt, sovhttdl … password {BENCH_PASSWORD}"
    )


@bench.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation")
def reset_command(yes):
    """Empty every data table (keeps the geography and the calendar)."""
    if not yes:
        click.confirm("Delete all users, subjects, cases and their history?", abort=True)
    try:
        tables = reset()
    except BenchDataError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"emptied {len(tables)} tables")
