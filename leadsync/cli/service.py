"""The command line's always-on service: `leadsync run`."""

from __future__ import annotations

import sys

import click

from leadsync.cli.main import State
from leadsync.cli.pipeline import ready_to_write
from leadsync.cli.render import leadsync_errors


@click.command("run")
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Where the listener answers (forms, /healthz, /readyz, /metrics) "
    "[default: [service] listen, 127.0.0.1:8780]. Put a TLS proxy in front of it "
    "before exposing it beyond this machine.",
)
@click.pass_obj
def run_command(state: State, listen: str | None) -> None:
    """Run leadsync as a service: scheduled syncs, the forms inbox, the sweeps.

    \b
    Jobs come from the config:
      [sources.X] schedule = "5m"     that source's sync ("30s", "1h", or a cron line, UTC)
      [sources.X] type = "webhook"    a forms inbox at POST /forms/X, synced on arrival
      [feedback] schedule = "10m"     what sales did in the CRM, read back
      [service] sweep_schedule        come-back dates passed, follow-up SLAs past due
      [service] rescore_schedule      decayed scores written again (when they moved)
      [service] reconcile_schedule    a nightly reconcile (a report; repair if asked)
    Each job runs at start, then on its schedule; missed runs coalesce, jobs take
    turns on the state db, and `leadsync status` shows each job's last and next run.
    SIGTERM or Ctrl-C finishes the batch in flight and exits 0; a second one exits at once.
    """
    from leadsync.ops.reconcile import reconcile_wired
    from leadsync.service.process import Service

    with leadsync_errors():
        engine, wiring = ready_to_write(state)
        listen = listen or wiring.config.settings.service.listen
        service = Service(wiring, engine, listen, reconcile=reconcile_wired)
    sys.exit(service.serve())
