"""`leadsync export`: the lead ledger as Parquet or CSV files, partitioned by day, for a
warehouse or a data lake; each run writes only what is new since the last."""

from __future__ import annotations

from pathlib import Path

import click

from leadsync import clock
from leadsync.cli.main import State, state_url
from leadsync.cli.render import choice_option, leadsync_errors


@click.command("export")
@click.option(
    "--to",
    "to",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder to write to (made if missing); the next export to it adds only what is new.",
)
@choice_option("--format", ["parquet", "csv"], name="fmt")
@click.pass_obj
def export_command(state: State, to: Path, fmt: str) -> None:
    """Write the lead ledger to files a warehouse loads as they are.

    \b
    leads, identities   changed since the last export (the newest row of a lead wins)
    events, stage_history  appended since the last export
    tasks               the follow-up tasks, changed since the last export
    sla_timers, sync_runs  new, and the ones still open or running last time

    Each under DIR/<table>/day=YYYY-MM-DD/ (by the day of its own time, UTC), with a
    fixed schema: UTC timestamps, dates, JSON columns as JSON text. Needs pyarrow
    (pip install 'leadsync[export]'). The rows exported are remembered in the state db
    per folder, after every file is in place.
    """
    from leadsync.ops.export import export
    from leadsync.state import db

    with leadsync_errors():
        engine = db.make_engine(state_url(state), must_exist=True)
        try:
            db.require_current(engine)
            counts = export(engine, to, fmt, clock.now())
        finally:
            engine.dispose()
    width = max(len(name) for name in counts)
    click.echo(f"exported to {to}/ ({fmt})")
    for name, n in counts.items():
        click.echo(f"  {name:<{width}}  {n:>10,}")
