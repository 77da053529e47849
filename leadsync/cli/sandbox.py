"""The command line's demo and emulators: `leadsync demo` and `leadsync sandbox serve`."""

from __future__ import annotations

from pathlib import Path

import click

from leadsync.cli.render import (
    choice_option,
    crm_option,
    fail,
    faults_option,
    json_option,
    leadsync_errors,
    progress,
    report,
)

JSON_FILE = click.Path(dir_okay=False, path_type=Path)
FAULTS_HELP = (
    "Faults to inject: comma-separated kind[:option=value...]; kinds 503, 500, 429 (HubSpot), "
    "timeout, slow, lock_row, session_expired, request_limit, missing_result, drop (the "
    "connection closed with no answer); options rate=P, every=N, requests=1;4, endpoint=NAME, "
    "delay=S, retry_after=S."
)


@click.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its config, sample, state db and emulator records.",
)
@click.option(
    "--sandbox-url",
    metavar="URL",
    help="Use a running `leadsync sandbox serve` instead of an in-process emulator.",
)
@faults_option(
    "Faults for the in-process emulator to inject, "
    "e.g. '503:rate=0.2,lock_row:rate=0.05' (see `leadsync sandbox serve --help`).",
)
@crm_option(
    "Which CRM's emulator to sync into (config.example.toml or config.hubspot.example.toml)."
)
@choice_option(
    "--source",
    ["csv", "marketo"],
    "Where the leads come from: the sample export as a CSV file, or a Marketo emulator "
    "holding the same people with their visits, forms, emails and moments.",
)
@json_option("one JSON object with the counts")
@click.option(
    "--serve",
    is_flag=True,
    help="Instead: start the emulator and `leadsync run`, post a few sample form "
    "submissions, print how long each took to become a task, and keep serving (Ctrl-C).",
)
@click.option(
    "--listen",
    metavar="HOST:PORT",
    default="127.0.0.1:8780",
    show_default=True,
    help="With --serve: where the service listens.",
)
def demo(
    workdir: Path | None,
    crm: str,
    source: str,
    sandbox_url: str | None,
    faults: str | None,
    as_json: bool,
    serve: bool,
    listen: str,
) -> None:
    """Sync the bundled sample export into a local CRM emulator (Salesforce or HubSpot).

    Run it twice: the second run finds nothing new and writes nothing. Each CRM
    has its own folder (leadsync-demo, leadsync-demo-hubspot) unless --dir says.
    `--serve` shows the always-on service: web forms becoming follow-up tasks in seconds.
    """
    from leadsync.demo.run import run_demo

    default = "leadsync-demo" + ("" if crm == "salesforce" else f"-{crm}")
    workdir = workdir or Path(default + ("" if source == "csv" else f"-{source}"))
    if serve:
        from leadsync.demo.serve import serve_demo

        if source != "csv":
            fail("--serve shows web forms becoming tasks; it takes no --source (leave it out)")

        with leadsync_errors():
            code = serve_demo(workdir, crm, listen, click.echo)
        raise SystemExit(code)
    with leadsync_errors(), progress(not as_json) as line:
        summary = run_demo(
            workdir, crm=crm, source=source, sandbox_url=sandbox_url, faults=faults, progress=line
        )
    if not as_json:
        click.echo(f"demo folder: {workdir}/ (config.toml, state.db, sandbox-records.json)")
    report(summary, as_json)


@click.group()
def sandbox() -> None:
    """Local emulators of the CRMs' APIs."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--data", type=JSON_FILE, help="Keep the records in this JSON file across restarts.")
@faults_option(FAULTS_HELP)
@click.option("--hubspot-data", type=JSON_FILE, help="The same, for the HubSpot emulator.")
@click.option(
    "--hubspot-limits",
    metavar="SPEC",
    default="100/10s,4/s,250000/day",
    show_default=True,
    help="The HubSpot portal's rate limits: requests per rolling 10 s, searches per "
    "second, requests per day; 'off' for none.",
)
@click.option(
    "--marketo-limits",
    metavar="SPEC",
    default="100/20s,10,50000/day",
    show_default=True,
    help="The Marketo instance's limits: calls per rolling 20 s, calls at once, calls per "
    "day; 'off' for none.",
)
def sandbox_serve(
    host: str,
    port: int,
    data: Path | None,
    faults: str | None,
    hubspot_data: Path | None,
    hubspot_limits: str,
    marketo_limits: str,
) -> None:
    """Serve the Salesforce, HubSpot and Marketo emulators on one port, for any client.

    \b
    Salesforce: log in with username demo@leadsync.example, password
    demo-password and security token demo-token (or client id
    leadsync-demo-client, secret demo-client-secret). What it holds:
    GET /__sandbox/records/Lead; what it served: GET /__sandbox/stats.
    HubSpot (paths under /crm/v3/): the private-app token
    pat-na1-00000000-leadsync-demo. What it holds:
    GET /__sandbox/hubspot/records/contacts (or tasks); what it served and
    refused for rate: GET /__sandbox/hubspot/stats.
    Marketo (paths under /identity/, /rest/v1/, /bulk/v1/): client id
    leadsync-demo-marketo-client, secret demo-marketo-secret; it holds the
    demo's sample people with their history. What it holds:
    GET /__sandbox/marketo/leads; what it served and refused:
    GET /__sandbox/marketo/stats; people acting: POST /__sandbox/marketo/do.
    """
    from leadsync.demo.run import marketo_emulator
    from leadsync.sandbox.faults import FaultPlan
    from leadsync.sandbox.hubspot import HubSpotEmulator, RateLimits
    from leadsync.sandbox.hubspot import Store as HubSpotStore
    from leadsync.sandbox.marketo import Limits as MarketoLimits
    from leadsync.sandbox.salesforce import SalesforceEmulator, Store
    from leadsync.sandbox.server import Emulators, serve

    try:
        plan = FaultPlan.parse(faults)
        hubspot_plan = FaultPlan.parse(faults)
    except ValueError as exc:
        fail(f"--faults: {exc}")
    try:
        limits = RateLimits.parse(hubspot_limits)
    except ValueError as exc:
        fail(f"--hubspot-limits: {exc}")
    try:
        marketo = marketo_emulator(FaultPlan.parse(faults))
        marketo.limits = MarketoLimits.parse(marketo_limits)
    except ValueError as exc:
        fail(f"--marketo-limits: {exc}")
    app = Emulators(
        SalesforceEmulator(store=Store(data_file=data), faults=plan),
        HubSpotEmulator(
            store=HubSpotStore(data_file=hubspot_data), faults=hubspot_plan, limits=limits
        ),
        marketo,
    )
    click.echo(
        f"Salesforce, HubSpot and Marketo emulators on http://{host}:{port} "
        f"(records: {data or 'in memory'}, {hubspot_data or 'in memory'}); "
        "Ctrl-C stops them",
        err=True,
    )
    serve(app, host, port)
