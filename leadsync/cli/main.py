"""The `leadsync` group: its options, the state every command shares, and the commands
by name.

A command's module is imported when that command runs, not before: `leadsync --help`
and `leadsync sync --help` pay for click alone, not for SQLAlchemy, Alembic, pydantic
and the CRM clients (0.57 s before, issue 13).
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from leadsync import __version__, clock

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadsync import config as cfg

# name -> (module:attribute, what it does, for the group's help).
COMMANDS = {
    "demo": ("sandbox:demo", "Sync a sample export into a local CRM emulator, end to end."),
    "init": ("pipeline:init", "Write a starter config (the documented example)."),
    "check": ("pipeline:check", "Validate the config, against the CRM's real schema too."),
    "db": ("pipeline:db_group", "The state database's schema (Alembic migrations)."),
    "sync": ("pipeline:sync", "Run one pass: pull, map, resolve, plan, push to the CRM."),
    "run": ("service:run_command", "Run the service: scheduled syncs, forms, SLAs."),
    "status": ("inspect:status", "Recent runs, jobs, the outbox backlog, dead letters."),
    "errors": ("inspect:errors_group", "What the CRM refused, by reason; retry or discard."),
    "reconcile": ("pipeline:reconcile_command", "Compare the state db with the CRM."),
    "explain": ("inspect:explain_command", "Why a lead stands where it does."),
    "preview": ("inspect:preview_command", "What other rules would do, before they go live."),
    "report": ("report:report_group", "The funnel, follow-up, owners, recycling; scoring."),
    "suggest": ("suggest:suggest_group", "A scorecard fitted on what sales converted."),
    "export": ("export:export_command", "The lead ledger as Parquet or CSV, for a warehouse."),
    "sandbox": ("sandbox:sandbox", "The CRM emulators, served for any client."),
}


class LazyGroup(click.Group):
    """Commands found by name in ``COMMANDS``, their module imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(f"leadsync.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        if not gc.isenabled():
            # The program started (`cli.script`) with the collector off: what the imports
            # made lives as long as the process, frozen out of every later collection.
            gc.freeze()
            gc.enable()
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="leadsync")
@click.option(
    "--config",
    "config",
    metavar="FILE",
    envvar="LEADSYNC_CONFIG",
    help="The config file [default: ./config.toml; env LEADSYNC_CONFIG].",
)
@click.option(
    "--state-url",
    metavar="URL",
    envvar="LEADSYNC_STATE_URL",
    help="The state database, overriding [state] url "
    "(sqlite:///state.db, postgresql://...) [env LEADSYNC_STATE_URL].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Log level on stderr [default: warning on a terminal, where the run's table says the "
    "rest; info otherwise].",
)
@click.option(
    "--log-json/--log-console",
    default=None,
    help="Log format on stderr [default: console on a terminal, JSON lines otherwise].",
)
@click.option(
    "--now",
    metavar="TIME",
    envvar=clock.ENV,
    help="Decide as if it were this UTC time (ISO 8601: 2026-12-07T09:00:00Z), to see what "
    "`preview` or `explain` would say on another day [default: the clock; env LEADSYNC_NOW].",
)
@click.pass_context
def main(
    ctx: click.Context,
    config: str | None,
    state_url: str | None,
    log_level: str | None,
    log_json: bool | None,
    now: str | None,
) -> None:
    """leadsync moves leads from marketing systems into the CRM and keeps the two in step.

    \b
    Start here:
      leadsync demo              sync a sample export into a local Salesforce emulator
      leadsync init              write a starter config.toml to edit
      leadsync check             validate it, against the CRM's real schema too
      leadsync db upgrade        create or migrate the state database
      leadsync sync --dry-run    see what a sync would write, without writing it
      leadsync sync              run one pass: pull, map, resolve, plan, push
      leadsync status            recent runs, the outbox backlog, dead letters
      leadsync errors [retry]    what the CRM refused, by reason; send it again
      leadsync reconcile         what drifted in the CRM since leadsync wrote it (--repair)
      leadsync reconcile --adopt a lost or new state db: take back what the CRM holds
      leadsync explain EMAIL     why a lead stands where it does
      leadsync preview NEW.toml  what other rules would do, before they go live
      leadsync run               the service: the syncs on their schedules, forms, SLAs

    Exit codes: 0 ok, 1 failed, 2 partial (some records quarantined or dead-lettered,
    or writes held back by the CRM's daily API quota), 130 stopped by SIGTERM or Ctrl-C.
    """
    from leadsync import log
    from leadsync.cli.render import leadsync_errors

    log.configure(log_level or ("warning" if sys.stderr.isatty() else "info"), json=log_json)
    if now:
        with leadsync_errors():
            clock.parse(now)
        os.environ[clock.ENV] = now  # one clock for every part of this process
    ctx.obj = State(config, state_url)


class State:
    def __init__(self, config: str | None, state_url: str | None) -> None:
        self.config_flag = config
        self.state_url = state_url

    @property
    def config_path(self) -> Path:
        from leadsync import config as cfg

        return cfg.locate(self.config_flag)

    @property
    def has_config(self) -> bool:
        """A config is there, or named (--config, LEADSYNC_CONFIG): a named one must exist,
        and loading it says so when it does not."""
        return bool(self.config_flag or os.environ.get("LEADSYNC_CONFIG")) or (
            self.config_path.exists()
        )

    def load(self, *, secrets: bool = True) -> cfg.Config:
        """The config; commands that never talk to a system (`explain`, `status`, `db`) pass
        secrets=False, so that they work without the CRM's credentials in the environment."""
        from leadsync import config as cfg

        return cfg.load(self.config_path, state_url=self.state_url, strict_env=secrets)


def state_engine(url: str, *, must_exist: bool = False) -> Engine:
    """The state db's engine for the command running, its connections closed when the
    command ends: the process exits without collecting what is left (`cli.script`), and
    SQLite folds its write-ahead log back into the db as its last connection closes."""
    from leadsync.state import db

    engine = db.make_engine(url, must_exist=must_exist)
    click.get_current_context().call_on_close(engine.dispose)
    return engine


def state_url(state: State) -> str:
    """--state-url, else the config's [state] url. A config named (--config or
    LEADSYNC_CONFIG) must exist: a typo must not quietly make ./state.db instead."""
    from leadsync.settings import DEFAULT_STATE_URL

    if state.state_url:
        return state.state_url
    if state.has_config:
        return state.load(secrets=False).state_url
    return DEFAULT_STATE_URL
