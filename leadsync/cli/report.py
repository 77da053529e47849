"""`leadsync report`: the funnel, follow-up, owners and recycling (`report`), and how
well the scoring ranks the leads sales converted (`report scoring`); printed as aligned
tables, JSON, or CSV rows of (section, group, figure, value) that a sheet can pivot."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import click

from leadsync import clock
from leadsync.cli.main import State, state_url
from leadsync.cli.render import choice_option, fail, leadsync_errors
from leadsync.errors import ConfigError

FORMATS = ("table", "json", "csv")


def period_options(
    formats: tuple[str, ...] = FORMATS,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--since, --until, --format and --out, as both reports take them."""
    return partial(_with_period_options, formats)


def _with_period_options(
    formats: tuple[str, ...], command: Callable[..., Any]
) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option(
                "--since",
                metavar="DAY",
                help="From this day (or ISO time), UTC. Default: the start.",
            ),
            click.option(
                "--until", metavar="DAY", help="Up to, not including, this day (or ISO time), UTC."
            ),
            click.option(
                "--format",
                "fmt",
                type=click.Choice(formats),
                default="table",
                show_default=True,
                help="csv: one figure a row (section, group, figure, value)"
                + ("; html: one self-contained page with charts." if "html" in formats else "."),
            ),
            click.option(
                "--out",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Write the report to this file instead of the terminal.",
            ),
        ]
    ):
        command = option(command)
    return command


@click.group("report", invoke_without_command=True)
@period_options((*FORMATS, "html"))
@click.option(
    "--by",
    type=click.Choice(["source", "campaign", "owner", "week"]),
    help="A row per source, campaign, owner or week (the Monday of the week a lead entered "
    "the stage a figure starts from).",
)
@click.pass_context
def report_group(
    ctx: click.Context,
    since: str | None,
    until: str | None,
    fmt: str,
    out: Path | None,
    by: str | None,
) -> None:
    """The funnel, follow-up, owners and recycling, from the history in the state db.

    \b
    funnel      leads entering each stage in the period; of those that entered a
                stage, how many went on to the next, and the median and p90 days
    follow-up   the period's MQLs: accepted, touched at all, touched within their
                SLA, hours to the first touch (a completed task, or sales moving
                the status), SLA breaches, reassignments, leads recycled unworked
    owners      each owner's MQLs, open MQLs now, acceptance (SAL) rate, follow-up
    recycling   why leads were recycled, what became of them, when they come back

    A lead counts in the period by when it first entered the stage a figure starts
    from: `--since 2026-11-01 --until 2026-12-01` gives November's MQLs and how many
    of them sales accepted, whenever that was. `leadsync report scoring` says how
    well the scores rank the leads sales converted. Nothing is written anywhere.
    """
    if ctx.invoked_subcommand is not None:
        return
    from leadsync.cli.report_text import as_csv, as_tables
    from leadsync.ops.report import build_report

    hours = _business_hours(ctx.obj)
    if fmt == "html":
        page = _built(ctx.obj, since, until, partial(_html_page, hours=hours, state=ctx.obj))
        _emit(page["html"], out)
        return
    built = _built(ctx.obj, since, until, partial(build_report, by=by, hours=hours))
    _write(built, fmt, out, as_tables, as_csv)


def _html_page(
    engine: Any, now: datetime, period: Any, *, hours: Any, state: State
) -> dict[str, Any]:
    """The HTML report: the period's report, the same by week, the scoring, and the plan
    when the config has targets."""
    from leadsync.cli.report_html import as_html
    from leadsync.ops.plan import build_plan
    from leadsync.ops.report import build_report, build_scoring

    planning = None
    if state.has_config:
        planning = state.load(secrets=False).settings.planning
    return {
        "html": as_html(
            build_report(engine, now, period, hours=hours),
            build_report(engine, now, period, by="week"),
            build_scoring(engine, now, period),
            build_plan(engine, now, planning) if planning is not None else None,
        )
    }


@report_group.command("scoring")
@period_options()
@choice_option(
    "--outcome",
    ["sql", "sal"],
    "What counts as a good lead: reached SQL (qualified or converted), or was accepted by "
    "sales (SAL or further).",
)
@click.option(
    "--band", type=click.FloatRange(min=1), default=10, show_default=True, help="Points a band."
)
@click.pass_obj
def scoring_command(
    state: State,
    since: str | None,
    until: str | None,
    fmt: str,
    out: Path | None,
    outcome: str,
    band: float,
) -> None:
    """How well the scores rank the leads sales converted.

    Conversion by score band, MQLs against the other leads, and the ROC AUC of the
    score against the outcome (the chance that a converted lead outscores one that
    did not: 0.5 is a coin, 1.0 perfect), for the period and for each month in it.

    The leads are those first seen in the period; the score is each lead's score now
    (fit plus behaviour, to a tenth of a point).
    """
    from leadsync.cli.report_text import scoring_csv, scoring_tables
    from leadsync.ops.report import build_scoring

    built = _built(state, since, until, partial(build_scoring, outcome=outcome, band=band))
    _write(built, fmt, out, scoring_tables, scoring_csv)


@report_group.command("plan")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file instead of the terminal.",
)
@click.pass_obj
def plan_command(state: State, fmt: str, out: Path | None) -> None:
    """The funnel against the targets in the config's [planning].

    For each target (a quarter or a month; all leads, or one source's, campaign's or
    owner's): MQLs and SQLs so far, where the period ends at this pace, what is still
    needed, and how many more inquiries (and MQLs) that takes at the conversion
    rates of the period before.
    """
    from leadsync.cli.report_text import plan_csv, plan_tables
    from leadsync.ops.plan import build_plan
    from leadsync.state import db

    with leadsync_errors():
        config = state.load(secrets=False)
        planning = config.settings.planning
        if planning is None:
            fail(
                f"{state.config_path} has no [planning] targets: add [[planning.targets]] "
                "(see config.example.toml)"
            )
        engine = db.make_engine(config.state_url, must_exist=True)
        try:
            db.require_current(engine)
            built = build_plan(engine, clock.now(), planning)
        finally:
            engine.dispose()
    _write(built, fmt, out, plan_tables, plan_csv)


def _business_hours(state: State) -> Any:
    """The [sla]'s business hours, when a config has that section: the time to first
    touch is given in them too. None without a config (`--state-url` alone)."""
    from leadsync.rules.sla import BusinessHours, SlaError

    if not state.has_config:
        return None
    with leadsync_errors():
        sla = state.load(secrets=False).settings.sla
        if sla is None:
            return None
        try:
            return BusinessHours.parse(sla.business_hours, sla.timezone)
        except SlaError as exc:
            fail(f"[sla] {exc}")


def _built(
    state: State, since: str | None, until: str | None, build: Callable[..., dict[str, Any]]
) -> dict[str, Any]:
    """``build(engine, now, period)`` over the state db; its errors said in one line."""
    from leadsync.state import db
    from leadsync.state.ledger import Period

    with leadsync_errors():
        period = Period(_when("--since", since), _when("--until", until))
        engine = db.make_engine(state_url(state), must_exist=True)
        try:
            db.require_current(engine)
            return build(engine, clock.now(), period)
        finally:
            engine.dispose()


def _write(
    built: dict[str, Any],
    fmt: str,
    out: Path | None,
    tables: Callable[[dict[str, Any]], str],
    rows: Callable[[dict[str, Any]], str],
) -> None:
    """The report in its format, on the terminal or in ``out``."""
    if fmt == "json":
        _emit(json.dumps(built, indent=2) + "\n", out)
    else:
        _emit(rows(built) if fmt == "csv" else tables(built), out)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"report written to {out}", err=True)


def _when(option: str, text: str | None) -> datetime | None:
    """A day (midnight UTC) or an ISO time, as UTC; a clear error for anything else."""
    if text is None:
        return None
    try:
        return clock.parse(text)
    except ConfigError:  # said again, naming the option
        fail(f"{option} {text!r} is not a date: give YYYY-MM-DD or an ISO 8601 time")
