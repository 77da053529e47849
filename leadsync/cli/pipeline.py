"""The commands that run the pipeline: init, check, db, sync, reconcile.

Exit codes: 0 everything went through; 1 the command failed (bad config,
unreachable CRM, outdated schema: the message says what to do); 2 partial:
the run finished but some records were quarantined or dead-lettered
(`leadsync status` lists them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from leadsync import config as cfg
from leadsync.cli.main import State, state_engine, state_url
from leadsync.cli.render import (
    crm_option,
    fail,
    json_option,
    leadsync_errors,
    progress,
    report,
    stop_on_signals,
)
from leadsync.errors import Interrupted
from leadsync.sync.summary import EXIT_FAILED, EXIT_PARTIAL

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadsync.sync.wiring import Wiring


@click.command()
@click.argument("path", default="config.toml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@crm_option("The CRM the starter config writes to.")
def init(path: Path, force: bool, crm: str) -> None:
    """Write a starter config (the documented example) and the sample export it reads."""
    from leadsync.demo.run import SAMPLE, example_text, write_sample

    if path.exists() and not force:
        fail(f"{path} exists; pass --force to overwrite it")
    path.write_text(example_text(crm), encoding="utf-8")
    sample = path.parent / SAMPLE
    if not sample.exists():
        write_sample(sample)
    secrets = (
        "HUBSPOT_TOKEN (a private app's token)"
        if crm == "hubspot"
        else "SF_CLIENT_ID, SF_CLIENT_SECRET and SF_MY_DOMAIN (a connected app's OAuth client)"
    )
    click.echo(
        f"wrote {path} and {sample}\n"
        f"next: export {secrets}, edit the field maps, then run "
        f"`leadsync --config {path} check`"
    )


@click.command()
@click.option(
    "--offline", is_flag=True, help="Check the file and the sources only; do not log in to the CRM."
)
@click.pass_obj
def check(state: State, offline: bool) -> None:
    """Validate the config: keys, environment, sources, CRM login and every field mapping.

    Each problem is one line naming the file, the key and the fix. Exit 0 when
    there is none, 1 otherwise.
    """
    from leadsync.ops.check import run_check

    report = run_check(state.config_path, state_url=state.state_url, connect=not offline)
    report.errors += _schedule_problems(state)
    for line in report.checked:
        click.echo(f"ok       {line}")
    for line in report.warnings:
        click.secho(f"warning  {line}", fg="yellow")
    for line in report.errors:
        click.secho(f"error    {line}", fg="red")
    if report.errors:
        click.echo(f"{len(report.errors)} problem(s) found")
        sys.exit(EXIT_FAILED)
    click.echo("config is valid")


def _schedule_problems(state: State) -> list[str]:
    """The schedules `leadsync run` could not follow (checked here: `ops` does not know
    the service)."""
    from leadsync.service.schedule import schedule_problems

    try:
        config = state.load(secrets=False)
    except cfg.ConfigError:
        return []  # run_check has said why
    return schedule_problems(config.settings, config.path)


@click.group("db")
def db_group() -> None:
    """The state database's schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_obj
def db_upgrade(state: State, revision: str) -> None:
    """Create the state database's tables or migrate them to this version's schema."""
    from leadsync.state import db

    with leadsync_errors():
        engine = state_engine(state_url(state))
        before, after = db.upgrade(engine, revision)
        where = engine.url.render_as_string(hide_password=True)
        click.echo(
            f"{where}: {before or 'empty'} -> {after}"
            if before != after
            else f"{where}: already at {after}"
        )


@db_group.command("current")
@click.pass_obj
def db_current(state: State) -> None:
    """Print the schema revision of the state database and the one this version needs."""
    from leadsync.state import db

    with leadsync_errors():
        engine = state_engine(state_url(state), must_exist=True)
        click.echo(
            f"database: {db.current_revision(engine) or 'empty'}\n"
            f"code:     {db.head_revision(engine)}"
        )


def ready_to_write(state: State) -> tuple[Engine, Wiring]:
    """The state db's engine and the wired connectors, once what `check --offline` refuses
    has been refused: a missing column or a wrong delimiter would quarantine the whole
    export before a row is read."""
    from leadsync.ops.check import run_check
    from leadsync.state import db
    from leadsync.sync.wiring import wire

    config = state.load()
    offline = run_check(
        state.config_path, state_url=state.state_url, connect=False, remote_sources=False
    )
    if offline.errors:
        raise cfg.ConfigError(offline.errors)
    engine = state_engine(config.state_url, must_exist=True)
    db.require_current(engine)
    return engine, wire(config)


@click.command()
@click.option("--source", metavar="NAME", help="Only this source (default: all).")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would be written (counts and the "
    "first changes as field diffs); write nothing to the CRM or the state db.",
)
@click.option(
    "--no-handoff",
    is_flag=True,
    help="Bring history in without hand-offs: leads are scored, staged and routed, but no "
    "follow-up task is made (a first load or a backfill; see also [tasks] max_age_days).",
)
@json_option("one JSON object with the counts")
@click.pass_obj
def sync(state: State, source: str | None, dry_run: bool, no_handoff: bool, as_json: bool) -> None:
    """Run one pass: pull new records, map, resolve, plan, push to the CRM.

    Before a first load, `leadsync sync --dry-run` says how many follow-up tasks each
    owner would get."""
    from leadsync.sync.pipeline import Run

    with leadsync_errors(as_json=as_json):
        engine, wiring = ready_to_write(state)
        try:
            with stop_on_signals(), progress(not as_json) as line:
                run = Run(
                    wiring,
                    engine,
                    dry_run=dry_run,
                    only_source=source,
                    on_push=line.push if line else None,
                    on_read=line.read if line else None,
                    no_handoff=no_handoff,
                )
                try:
                    summary = run.execute()
                except (Interrupted, KeyboardInterrupt):
                    summary = run.summary  # recorded as stopped; reported below
            names = _owner_names(engine, wiring)
        finally:
            wiring.close()
    report(summary, as_json, names)


def _owner_names(engine: Any, wiring: Any) -> dict[str, str]:
    """The owners' names the state db keeps and the ones this run learned (a dry run
    keeps none): the table names people."""
    from leadsync.state import db, owners

    with db.session_factory(engine)() as session:
        return {**owners.known(session), **wiring.destination.owner_names()}


@click.command("reconcile")
@click.option(
    "--repair",
    is_flag=True,
    help="Write leadsync's values back where the CRM drifted, and re-create "
    "the records that are gone (through the outbox, as a sync would).",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="First rebuild a lost or new state db from the CRM: every record carrying "
    "leadsync's key becomes a lead again (CRM id, owner, the values there now) with the "
    "stages its follow-up tasks record, so that the next sync writes only real "
    "differences and hands no one off twice.",
)
@json_option("one JSON object with the counts")
@click.pass_obj
def reconcile_command(state: State, repair: bool, adopt: bool, as_json: bool) -> None:
    """Compare the state db with the CRM: what leadsync wrote against what is there.

    Reads every CRM record carrying leadsync's key (Salesforce: one Bulk API
    query, a few requests however many) and reports the leads whose record is
    missing (deleted, or a write that never arrived), moved (merged: another
    id), or changed (a field leadsync owns edited by hand). Fields sales owns,
    and the owner and status sales set after a hand-off, are not compared.
    Without --repair nothing is written. Exit code 2 when drift was found and
    left as it is. After a lost state db, `leadsync db upgrade` then
    `leadsync reconcile --adopt` takes back every record carrying leadsync's key.
    """
    import uuid

    from leadsync.ops.adopt import adopt as adopt_crm
    from leadsync.ops.reconcile import reconcile_wired, render
    from leadsync.state import db

    with leadsync_errors(as_json=as_json):
        engine, wiring = ready_to_write(state)
        dest = wiring.destination
        run_id = str(uuid.uuid4())
        try:
            with db.run_lock(engine):
                factory = db.session_factory(engine)
                adopted = None
                if adopt:
                    targets = {f.target: f.sources for f in wiring.crm_map.fields}
                    adopted = adopt_crm(
                        factory,
                        dest,
                        list(targets),
                        email_field=next((t for t, s in targets.items() if s == ("email",)), None),
                        owner_field=next((t for t, s in targets.items() if s == ("owner",)), None),
                        run_id=run_id,
                    )
                report = reconcile_wired(wiring, factory, repair=repair, run_id=run_id)
                report.api_calls = dest.calls.total  # adopting's requests too
        finally:
            wiring.close()
    if as_json:
        body = report.as_dict() | ({"adopted": adopted.as_dict()} if adopted else {})
        click.echo(json.dumps(body, indent=2, default=str))
    else:
        if adopted is not None:
            click.echo(
                f"adopted {adopted.leads} lead(s) from the CRM with {adopted.stages} stage "
                f"entr{'y' if adopted.stages == 1 else 'ies'} from their tasks; "
                f"{adopted.known} already known, {adopted.same_email} skipped (their email "
                "is another lead's here)"
                + ("" if adopted.tasks_read else "; this CRM's tasks cannot be read back")
            )
        click.echo("\n".join(render(report, repair)))
    if not repair and report.missing + report.moved + report.changed:
        sys.exit(EXIT_PARTIAL)  # drift found and left: a scheduler can tell
