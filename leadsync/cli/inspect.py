"""The commands that inspect: what a lead went through and why (`explain`), what other
rules would do (`preview`), what the CRM refused (`errors`), and the runs, backlog and
quarantine (`status`). None of them writes to the CRM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from leadsync import clock
from leadsync import config as cfg
from leadsync.cli.main import State, state_url
from leadsync.cli.render import COUNT_KEYS, fail, json_option, leadsync_errors


@click.command("explain")
@click.argument("who")
@click.pass_obj
def explain_command(state: State, who: str) -> None:
    """Why a lead stands where it does: profile, score breakdown, stages, CRM writes.

    WHO is an email, a lead key, SOURCE:ID (for example web_forms:F-100001), the
    CRM record's id (00Q..., a HubSpot contact id), or a source's id alone.
    The score is computed again now, with the rules in the config as they are.
    """
    from leadsync.ops.explain import explain
    from leadsync.state import db
    from leadsync.sync.wiring import wire

    with leadsync_errors():
        config = state.load(secrets=False)
        engine = db.make_engine(config.state_url, must_exist=True)
        db.require_current(engine)
        lines = explain(wire(config), engine, who, clock.now())
    if lines is None:
        fail(
            f"no lead matches {who!r} (give an email, a lead key, SOURCE:ID, a CRM record id "
            "or a source id)"
        )
    click.echo("\n".join(lines or []))


@click.command("preview")
@click.argument("candidate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option()
@click.option(
    "--backtest",
    is_flag=True,
    help="Replay each lead's history from scratch with both rule sets and judge their MQLs "
    "against what sales recorded: precision, recall, the owners' load.",
)
@click.pass_obj
def preview_command(state: State, candidate: Path, as_json: bool, backtest: bool) -> None:
    """What another rule set would do to the stored leads, before it goes live.

    CANDIDATE is a config file with the rules to try ([scoring], [lifecycle],
    [routing], [tasks]). Every lead in the state db is decided with the rules in
    force and with the candidate's; nothing is written to the CRM or the state db.

    With --backtest, each lead's history is replayed from its first sighting: the
    MQLs each rule set would have made, how many of them sales accepted (SAL) and
    converted (SQL) (precision), how many of the leads sales accepted or converted
    they would have caught (recall), beside the MQLs as recorded, and how each
    owner's load of routed MQLs would change.
    """
    from leadsync.state import db
    from leadsync.sync.wiring import wire

    with leadsync_errors():
        config = state.load(secrets=False)
        other = cfg.load(candidate, state_url=config.state_url, strict_env=False)
        engine = db.make_engine(config.state_url, must_exist=True)
        try:
            db.require_current(engine)
            if backtest:
                from leadsync.ops import backtest as replay

                report: Any = replay.backtest(wire(config), wire(other), engine, clock.now())
                say: Callable[[Any], list[str]] = replay.lines
            else:
                from leadsync.ops import preview as previewed

                report = previewed.preview(wire(config), wire(other), engine, clock.now())
                say = previewed.lines
        finally:
            engine.dispose()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo("\n".join(say(report)))


@click.group("errors", invoke_without_command=True)
@click.option("--reason", metavar="CODE", help="Only this error code.")
@json_option()
@click.pass_context
def errors_group(ctx: click.Context, reason: str | None, as_json: bool) -> None:
    """What the CRM refused for good (dead letters), grouped by reason.

    Fix the cause (a validation rule, a picklist value, a mapping), then `leadsync
    errors retry` has the next sync send them again (a lead planned anew from the
    current mapping); `leadsync errors discard` drops them for good.
    """
    if ctx.invoked_subcommand is not None:
        return
    from leadsync.state import db, outbox

    state: State = ctx.obj
    with leadsync_errors():
        engine = db.make_engine(state_url(state), must_exist=True)
        db.require_current(engine)
        with db.session_factory(engine)() as session:
            rows = outbox.dead_letter_rows(session, reason)
    groups: dict[str, list[Any]] = {}
    for dead, lead in rows:
        groups.setdefault(dead.code, []).append((dead, lead))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "code": code,
                        "count": len(items),
                        "message": items[-1][0].message,
                        "fields": items[-1][0].fields,
                        "leads": [lead.email or lead.key for _, lead in items[:20]],
                    }
                    for code, items in sorted(groups.items(), key=lambda g: -len(g[1]))
                ],
                indent=2,
            )
        )
        return
    if not groups:
        click.echo("no dead letters")
    for code, items in sorted(groups.items(), key=lambda g: -len(g[1])):
        dead, _ = items[-1]
        click.secho(f"{code}: {len(items)}", bold=True)
        click.echo(
            f"  {dead.message}" + (f" (fields: {', '.join(dead.fields)})" if dead.fields else "")
        )
        shown = ", ".join(lead.email or lead.key for _, lead in items[:5])
        more = f" and {len(items) - 5} more" if len(items) > 5 else ""
        click.echo(f"  leads: {shown}{more}")


@errors_group.command("retry")
@click.option("--reason", metavar="CODE", help="Only dead letters with this error code.")
@click.pass_obj
def errors_retry(state: State, reason: str | None) -> None:
    """Send what the CRM refused again, after fixing the cause. A refused lead is planned
    anew by the next `leadsync sync` from the mapping and rules in force (a fixed mapping
    is what is sent); a refused task or nurture change goes back to the outbox as it was."""
    from leadsync.state import db, outbox

    with leadsync_errors():
        engine = db.make_engine(state_url(state), must_exist=True)
        db.require_current(engine)
        with db.run_lock(engine), db.session_factory(engine)() as session:
            again, replan = outbox.retry_dead_letters(session, reason)
            session.commit()
    click.echo(
        f"{replan} lead(s) to plan again from the current mapping and "
        f"{again} task or nurture op(s) back in the outbox: run `leadsync sync`"
    )


@errors_group.command("discard")
@click.option("--reason", metavar="CODE", help="Only dead letters with this error code.")
@click.pass_obj
def errors_discard(state: State, reason: str | None) -> None:
    """Drop dead letters for good: what the CRM refused is not sent again."""
    from leadsync.state import db, outbox

    with leadsync_errors():
        engine = db.make_engine(state_url(state), must_exist=True)
        db.require_current(engine)
        with db.run_lock(engine), db.session_factory(engine)() as session:
            dropped = outbox.discard_dead_letters(session, reason)
            session.commit()
    click.echo(f"{dropped} dead letter(s) discarded")


@click.command()
@json_option()
@click.pass_obj
def status(state: State, as_json: bool) -> None:
    """Recent runs, the outbox backlog and the dead letters with their reasons."""
    from leadsync.state import db, jobs, outbox, owners, repo, sla

    with leadsync_errors():
        engine = db.make_engine(state_url(state), must_exist=True)
        db.require_current(engine)
        alive = db.run_lock_held(engine)
        with db.session_factory(engine)() as session:
            runs = repo.recent_runs(session)
            scheduled = [_job_row(j) for j in jobs.all_jobs(session)]
            open_slas, breaches = sla.open_and_breached(session)
            names = owners.known(session)
            breached = [
                {**_breach_row(t), "owner_name": names.get(t.owner or "")} for t in breaches
            ]
            backlog = outbox.backlog(session)
            dead = outbox.dead_letters(session)
            quarantined = repo.recent_quarantine(session)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "runs": [
                        {
                            "run_id": r.id,
                            "started_at": r.started_at.isoformat(),
                            "status": _run_status(r.status, alive),
                            **{k: r.summary.get(k) for k in COUNT_KEYS},
                            "held_back": r.summary.get("quota"),
                        }
                        for r in runs
                    ],
                    "jobs": scheduled,
                    "sla": {"open": open_slas, "breached": breached},
                    "outbox": [
                        {
                            "destination": d,
                            "kind": k,
                            "pending": n,
                            "oldest": o.isoformat() if o else None,
                        }
                        for d, k, n, o in backlog
                    ],
                    "dead_letters": [{"code": c, "count": n, "example": m} for c, n, m in dead],
                    "quarantined": [
                        {
                            "source": q.source,
                            "record": q.record_ref,
                            "field": q.field,
                            "reason": q.reason,
                            "at": q.created_at.isoformat(),
                        }
                        for q in quarantined
                    ],
                },
                indent=2,
            )
        )
        return
    click.secho("recent runs", bold=True)
    if not runs:
        click.echo("  none yet: run `leadsync sync`")
    for r in runs:
        counts = "  ".join(f"{k}={r.summary.get(k, 0)}" for k in COUNT_KEYS)
        click.echo(
            f"  {r.started_at:%Y-%m-%d %H:%M:%S}Z  {_run_status(r.status, alive):<8} {counts}"
        )
        if r.summary.get("error"):
            click.echo(f"      {r.summary['error']}")
        if r.summary.get("quota"):
            click.echo(f"      held back: {r.summary['quota']}")
    if scheduled:
        click.secho("service jobs (leadsync run)", bold=True)
    for j in scheduled:
        last = j["last_finished_at"] or j["last_started_at"] or "never"
        click.echo(
            f"  {j['job']:<22} {j['schedule']:<14} last {str(last)[:19]:<19} "
            f"{j['last_result'] or '':<8} {j['last_duration_s'] or 0:>7.2f}s  "
            f"next {str(j['next_run_at'] or '-')[:19]}"
        )
        if j["last_error"]:
            click.echo(f"      {j['last_error']}")
    if open_slas or breached:
        click.secho(f"follow-up SLAs: {open_slas} open; latest breaches", bold=True)
    for b in breached:
        click.echo(
            f"  lead {b['lead_id']}  {b['status']:<9} {b['reassignments']} reassignment(s), "
            f"owner now {b['owner_name'] or b['owner']}, due {str(b['due_at'])[:16]}"
        )
    click.secho("outbox backlog", bold=True)
    if not backlog:
        click.echo("  empty")
    for d, k, n, oldest in backlog:
        click.echo(f"  {d} {k}: {n} pending since {oldest:%Y-%m-%d %H:%M:%S}Z")
    if runs and runs[0].summary.get("quota") and backlog:
        click.echo(f"  why: {runs[0].summary['quota']}")
    click.secho("dead letters", bold=True)
    if not dead:
        click.echo("  none")
    for code, n, message in dead:
        click.echo(f"  {n:>6}  {code}: {message}")
    click.secho("quarantined records (latest)", bold=True)
    if not quarantined:
        click.echo("  none")
    for q in quarantined:
        click.echo(f"  {q.created_at:%Y-%m-%d %H:%M}Z  {q.source} {q.record_ref}: {q.reason}")


def _breach_row(timer: Any) -> dict[str, Any]:
    return {
        "lead_id": timer.lead_id,
        "status": timer.status,
        "owner": timer.owner,
        "reassignments": timer.reassignments,
        "due_at": timer.due_at.isoformat(),
        "steps": timer.steps,
    }


def _job_row(job: Any) -> dict[str, Any]:
    def when(at: Any) -> str | None:
        return at.isoformat() if at else None

    return {
        "job": job.name,
        "schedule": job.schedule,
        "last_started_at": when(job.last_started_at),
        "last_finished_at": when(job.last_finished_at),
        "last_result": job.last_result,
        "last_duration_s": job.last_duration_s,
        "last_error": job.last_error,
        "last_success_at": when(job.last_success_at),
        "failures_in_row": job.failures_in_row,
        "next_run_at": when(job.next_run_at),
    }


def _run_status(recorded: str, lock_held: bool) -> str:
    """A run recorded as running while nobody holds the run lock was killed (SIGKILL, a
    power cut): it will never finish, and says so."""
    return "died" if recorded == "running" and not lock_held else recorded
