"""`leadsync suggest scoring`: a scorecard fitted on the outcomes in the state db, written
as a `[scoring]` section to try with `leadsync preview` before it goes live."""

from __future__ import annotations

from pathlib import Path

import click

from leadsync import clock
from leadsync.cli.main import State
from leadsync.cli.render import fail, leadsync_errors


@click.group("suggest")
def suggest_group() -> None:
    """Rules learned from the history in the state db."""


@suggest_group.command("scoring")
@click.option(
    "--outcome",
    type=click.Choice(["sql", "sal"]),
    help="What a good lead did: reached SQL (qualified or converted), or was accepted by "
    "sales (SAL or further). Default: [suggest] outcome, else sql.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="FIELD",
    help="A lead field not to learn from (again for more), beside [suggest] exclude: the "
    "ones sales fills after the fact leak the outcome. `event:TYPE` leaves out an event type.",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0.05, 0.9),
    help="The share of leads held out to judge the suggestion. Default: 0.3.",
)
@click.option(
    "--split",
    type=click.Choice(["random", "time"]),
    help="Hold out a seeded random share, or the newest leads. Default: random.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the [scoring] section to this file instead of the terminal.",
)
@click.pass_obj
def scoring_command(
    state: State,
    outcome: str | None,
    exclude: tuple[str, ...],
    holdout: float | None,
    split: str | None,
    out: Path | None,
) -> None:
    """Fit a points scorecard on what sales did with the stored leads.

    Each profile field becomes conditions an admin would write (a value, a number's
    thresholds, its absence), each event type a behaviour rule; a logistic
    regression weighs them on the training share (ten points to a unit of log-odds).
    The held-out leads are then scored with leadsync's own scoring, by the suggestion
    and by the config's [scoring], and both ROC AUCs are printed. Needs scikit-learn
    (pip install 'leadsync[suggest]'). Nothing is written but the section.
    """
    from leadsync.mapping.fieldmap import lead_fields
    from leadsync.ops.suggest import as_toml, load_examples, suggest
    from leadsync.state import db
    from leadsync.sync.wiring import wire

    with leadsync_errors():
        config = state.load(secrets=False)
        settings = config.settings
        fields = lead_fields(settings.lead.custom_fields)
        left_out = [*settings.suggest.exclude, *exclude]
        unknown = [f for f in left_out if f not in fields and not f.startswith("event:")]
        if unknown:
            fail(
                f"--exclude/[suggest] exclude: no lead field {', '.join(map(repr, unknown))} "
                f"(the lead's fields: {', '.join(sorted(fields))})"
            )
        wiring = wire(config)  # the config's own [scoring], compiled as a sync compiles it
        current = wiring.rules.scoring
        wiring.close()
        goal = outcome or settings.suggest.outcome
        engine = db.make_engine(config.state_url, must_exist=True)
        try:
            db.require_current(engine)
            examples = load_examples(engine, goal)
        finally:
            engine.dispose()
        if not examples:
            fail("the state db holds no leads yet: sync first")
        made = suggest(
            examples,
            fields,
            current,
            clock.now(),
            outcome=goal,
            exclude=left_out,
            holdout=holdout or settings.suggest.holdout,
            how=split or settings.suggest.split,
        )
    text = as_toml(made)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
    auc = "-" if made.auc is None else f"{made.auc:.3f}"
    now = "-" if made.current_auc is None else f"{made.current_auc:.3f}"
    click.echo(
        f"{len(made.rules)} rules; held-out ROC AUC {auc} (the config's [scoring]: {now}) "
        f"on {made.held_out:,} of {made.held_out + made.trained_on:,} leads"
        + (f"; written to {out}" if out else ""),
        err=True,
    )
