"""`leadsync suggest scoring`: conditions found in the stored leads, weighed by a logistic
regression, written as a [scoring] section that loads, and judged on held-out leads."""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, datetime

from leadsync.ops.suggest import Example, as_toml, features, suggest
from leadsync.rules.scoring import compile_scoring

NOW = datetime(2026, 11, 30, tzinfo=UTC)
FIELDS = {"segment": "str", "visits": "float", "tag": "str", "city": "str", "opted_out": "bool"}


def synthetic(n: int = 2000, seed: int = 1) -> list[Example]:
    """Leads whose outcome follows their segment and visits (with noise); `tag` is the
    outcome itself, written by sales after the fact."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        segment = rng.choice(["enterprise", "smb", "student"])
        visits = rng.randrange(0, 30)
        odds = {"enterprise": 0.6, "smb": 0.3, "student": 0.05}[segment] + (
            0.25 if visits >= 15 else 0
        )
        reached = rng.random() < odds
        values = {"segment": segment, "visits": float(visits), "tag": "won" if reached else "lost"}
        if rng.random() < 0.5:
            values["city"] = rng.choice(['Say "hi"', "O'Hare"])
        values["opted_out"] = rng.random() < 0.1
        events = [{"type": "webinar"}] * (2 if reached and rng.random() < 0.5 else 0)
        out.append(Example(f"k{i}", values, events, reached))
    return out


def test_the_scorecard_learns_the_outcome_and_is_judged_held_out() -> None:
    """The rules reward the segments and visits that converted (students lose points), a
    webinar earns behaviour points each, and the held-out leads rank well by them."""
    made = suggest(synthetic(), FIELDS, None, NOW, exclude=["tag"])
    points = {r["when"]: r["points"] for r in made.rules}
    assert (
        points['segment == "enterprise"']
        > points.get('segment == "smb"', 0)
        > points['segment == "student"']
    )
    assert any(w.startswith("visits >= ") and p > 0 for w, p in points.items())
    webinar = next(r for r in made.rules if r["when"] == 'event.type == "webinar"')
    assert webinar["category"] == "behaviour" and webinar["points"] > 0
    assert (made.trained_on, made.held_out) == (1400, 600)
    assert made.auc is not None and made.auc > 0.75
    assert not any("tag" in r["when"] for r in made.rules)


def test_a_leaking_field_is_left_out_only_when_told() -> None:
    """Without the exclusion, the field sales writes afterwards wins (and fakes the AUC)."""
    leaked = suggest(synthetic(), FIELDS, None, NOW)
    assert any(r["when"] == 'tag == "won"' for r in leaked.rules)
    assert leaked.auc is not None and leaked.auc > 0.99
    assert not any(f.when.startswith("tag") for f in features(synthetic(), ["tag"]))


def test_the_section_loads_and_scores_as_leadsync_scores() -> None:
    """The written [scoring] parses as TOML (values with both kinds of quotes), compiles
    with leadsync's condition language, and scores a lead with its rules' points."""
    made = suggest(synthetic(), FIELDS, None, NOW, exclude=["tag"])
    section = tomllib.loads(as_toml(made))["scoring"]
    assert section["rules"] == made.rules
    scoring = compile_scoring(section["rules"], FIELDS, half_life_days=section["half_life_days"])
    assert len(scoring.rules) == len(made.rules)
    whens = {f.when for f in features(synthetic(), ["tag"])}
    assert 'city == "Say \\"hi\\""' in whens and 'city == "O\'Hare"' in whens
