"""What the command line prints: a run's table of counts, a progress bar, and an error
that ends a command."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError

from leadsync.errors import ConfigError, Interrupted, LeadsyncError
from leadsync.state.db import state_error
from leadsync.sync.summary import EXIT_FAILED, RunSummary

COUNT_KEYS = (
    "read",
    "quarantined",
    "unchanged",
    "created",
    "adopted",
    "updated",
    "failed",
    "retried",
    "api_calls",
)
DECISION_KEYS = (
    "mql",
    "owners_assigned",
    "tasks_created",
    "nurture_added",
    "sales_stage_changes",
    "sales_owner_changes",
    "tasks_completed",
)


def fail(message: str, *, as_json: bool = False) -> NoReturn:
    """End the command: the message on stderr, and with --json one object on stdout too, so
    that a scheduler reading stdout always has something to read."""
    if as_json:
        click.echo(json.dumps({"status": "failed", "error": message}))
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(EXIT_FAILED)


@contextmanager
def leadsync_errors(*, as_json: bool = False) -> Iterator[None]:
    """Every leadsync error ends the command with its message and exit code 1, no traceback."""
    try:
        yield
    except ConfigError as exc:
        if as_json:
            click.echo(json.dumps({"status": "failed", "error": "; ".join(exc.problems)}))
        for line in exc.problems:
            click.secho(line, fg="red", err=True)
        sys.exit(EXIT_FAILED)
    except LeadsyncError as exc:
        fail(str(exc), as_json=as_json)
    except SQLAlchemyError as exc:  # the state db, from any command: no traceback either
        fail(str(state_error(exc)), as_json=as_json)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM (a scheduler, a container stop) and SIGINT (Ctrl-C) raise Interrupted in the
    main thread: the page in flight rolls back or commits whole, the run is recorded as
    stopped. A second signal ends the process at once; the outbox keeps it safe."""

    def stop(signum: int, _frame: Any) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Progress:
    """What a run has done so far, on one line of a terminal: the records read, mapped and
    planned, then the ops written, each kind against those pending (leads, tasks,
    nurture apart)."""

    KINDS = {
        "upsert": "leads",
        "task": "tasks",
        "task_mark": "tasks set aside",
        "nurture": "nurture",
    }

    def __init__(self) -> None:
        self.written: dict[str, int] = {}
        self.shown = False

    def read(self, source: str, records: int) -> None:
        self._line(f"reading {source}: {records:,} records mapped and planned")

    def push(self, kind: str, done: int, pending: Mapping[str, int]) -> None:
        self.written[kind] = self.written.get(kind, 0) + done
        parts = [
            f"{self.KINDS.get(k, k)} {self.written.get(k, 0):,}/{n:,}"
            for k, n in pending.items()
            if n
        ]
        self._line("pushing " + ", ".join(parts))

    def _line(self, text: str) -> None:
        click.echo(f"\r{text:<78}", nl=False, err=True)
        self.shown = True


@contextmanager
def progress(wanted: bool) -> Iterator[Progress | None]:
    """A progress line of the run's steps, on a terminal only."""
    if not (wanted and sys.stderr.isatty()):
        yield None
        return
    line = Progress()
    try:
        yield line
    finally:
        if line.shown:
            click.echo(err=True)


def report(summary: RunSummary, as_json: bool, names: dict[str, str] | None = None) -> None:
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2, default=str))
    else:
        table(summary, names or {})
    sys.exit(summary.exit_code)


def table(s: RunSummary, names: dict[str, str] | None = None) -> None:
    title = "dry run (nothing written)" if s.dry_run else "sync"
    click.secho(f"{title} {s.run_id}: {s.status} in {s.duration_s:.2f}s", bold=True)
    rows: list[tuple[str, Any]] = [(k, getattr(s, k)) for k in COUNT_KEYS]
    rows += [(k, getattr(s, k)) for k in DECISION_KEYS if getattr(s, k)]
    if s.replanned:
        rows.append(("replanned (CRM map changed)", s.replanned))
    if s.dry_run:
        rows += [("would create", s.planned_creates), ("would update", s.planned_updates)]
        rows.append(("would hand off (tasks)", s.tasks_planned))
        rows.append(("would join nurture", s.nurture_planned))
    if s.tasks_withheld:
        rows.append(("MQLs without a task (history)", s.tasks_withheld))
    rows.append(("left in outbox", s.pending))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        click.echo(f"  {key:<{width}}  {value:>8}")
    if s.dry_run and s.tasks_by_owner:
        click.secho("follow-up tasks each owner would get", bold=True)
        for owner, n in sorted(s.tasks_by_owner.items(), key=lambda kv: -kv[1]):
            click.echo(f"  {n:>8}  {(names or {}).get(owner, owner)}")
    if s.dry_run and s.changes:
        click.secho("first changes", bold=True)
        for change in s.changes:
            click.echo(f"  {change['action']} lead {change['lead']}")
            for field, diff in change["fields"].items():
                click.echo(f"      {field}: {diff['before']!r} -> {diff['after']!r}")
    if s.problems:
        click.secho("records set aside (see `leadsync status`)", bold=True)
        for p in s.problems:
            click.echo(f"  {p['source']} {p['record']}: {p['reason']}")
    if s.quota:
        click.secho(f"held back: {s.quota}", fg="yellow")
    if s.error:
        click.secho(f"error: {s.error}", fg="red")


def json_option(
    what: str = "one JSON object",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--json``: print ``what`` instead of the table, for scripts."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print {what}.")


def faults_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--faults SPEC``: what an emulator breaks on purpose (`demo`, `sandbox serve`)."""
    return click.option("--faults", metavar="SPEC", help=help_text)


def choice_option(
    flag: str, choices: list[str], help_text: str | None = None, *, name: str | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An option taking one of ``choices``, the first by default (and said so)."""
    names = (flag, name) if name else (flag,)
    kind = click.Choice(choices)
    return click.option(*names, type=kind, default=choices[0], show_default=True, help=help_text)


def crm_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--crm salesforce|hubspot``, as `init` and `demo` take it."""
    return choice_option("--crm", ["salesforce", "hubspot"], help_text)
