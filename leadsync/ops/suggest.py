"""`leadsync suggest scoring`: a points scorecard fitted on the outcomes sales recorded.

Each stored lead is one example: its profile (fit) and its events (behaviour) against
whether it reached the outcome (SQL; or SAL and further). The profile's fields become
conditions an admin would write (``occupation == "Working Professional"``,
``time_on_website >= 600``, ``not exists(city)``, ``email_opt_out``), each event type
a behaviour rule (points an event); an L2-regularised logistic regression
(scikit-learn) weighs them on the training share, and the weights, ten points to a
unit of log-odds, become a ``[scoring]`` section. The held-out share is then scored
with leadsync's own scoring, by the suggestion and by the config's rules, and the two
ROC AUCs are compared: the section is judged as it would run.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from leadsync.errors import ConfigError
from leadsync.ops.preview import stored_leads
from leadsync.ops.report import roc_auc
from leadsync.rules.scoring import Scoring, compile_scoring, score

POINTS_PER_LOG_ODDS = 10
# A rule worth a point moves few leads past another: X Education's held-out AUC is 0.891
# with them (80 rules), 0.889 without (56): fewer rules for the admin to read.
MIN_POINTS = 2
QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.9)
MIN_SUPPORT = 20  # leads a value needs (and 1% of the training share) to become a rule
NEVER = frozenset({"email"})  # an identifier, not an attribute


@dataclass(frozen=True)
class Example:
    key: str
    values: dict[str, Any]
    events: list[dict[str, Any]]
    reached: bool


@dataclass(frozen=True)
class Feature:
    """A rule the fit may weigh: its condition, and its value for an example."""

    name: str
    category: str
    when: str
    value: Callable[[Example], float]


@dataclass
class Suggestion:
    rules: list[dict[str, Any]]
    outcome: str
    split: str
    trained_on: int
    held_out: int
    auc: float | None
    current_auc: float | None
    excluded: list[str] = field(default_factory=list)


def load_examples(engine: Engine, outcome: str, page: int = 5000) -> list[Example]:
    """Every stored lead, oldest first: its values, its events as rules read them, and
    whether its history reached ``outcome`` (``sql``; ``sal``: SAL or SQL)."""
    goals = {"sql"} if outcome == "sql" else {"sal", "sql"}
    out = [
        (
            (s.lead.created_at, s.lead.id),
            Example(
                s.lead.key,
                s.lead.values,
                s.events,
                any(h.stage in goals for h in s.history),
            ),
        )
        for s in stored_leads(engine, page)
    ]
    return [example for _, example in sorted(out, key=lambda pair: pair[0])]


def split(
    examples: Sequence[Example], holdout: float, how: str, seed: int = 14
) -> tuple[list[Example], list[Example]]:
    """(training, held out): a seeded random share, or the newest leads (``time``)."""
    order = list(examples)
    if how == "random":
        random.Random(seed).shuffle(order)
    cut = round(len(order) * (1 - holdout))
    return order[:cut], order[cut:]


def features(train: Sequence[Example], exclude: Sequence[str]) -> list[Feature]:
    """The conditions worth weighing, found in the training share: values common enough
    to learn from, thresholds at the quantiles of numbers, a field's absence, and each
    event type."""
    skip = NEVER | set(exclude)
    support = max(MIN_SUPPORT, len(train) // 100)
    seen: dict[str, list[Any]] = {}
    for example in train:
        for name, value in example.values.items():
            if name not in skip and value is not None and not isinstance(value, dict | list):
                seen.setdefault(name, []).append(value)
    out: list[Feature] = []
    for name, values in sorted(seen.items()):
        out += _field_features(name, values, len(train), support)
    types = Counter(str(e["type"]) for x in train for e in x.events if e.get("type"))
    for kind, n in sorted(types.items()):
        if n >= support and f"event:{kind}" not in skip:
            out.append(
                Feature(
                    f"{kind} (each)",
                    "behaviour",
                    f"event.type == {json.dumps(kind)}",
                    partial(_events_of, kind),
                )
            )
    return out


def _field_features(name: str, values: list[Any], n: int, support: int) -> list[Feature]:
    out: list[Feature] = []
    missing = n - len(values)
    if support <= missing <= n - support:
        out.append(
            Feature(
                f"no {name}",
                "fit",
                f"not exists({name})",
                partial(_absent, name),
            )
        )
    if all(isinstance(v, bool) for v in values):
        if support <= sum(values) <= len(values) - support:
            out.append(Feature(name, "fit", name, partial(_true, name)))
        return out
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        ordered = sorted(values)
        cuts = sorted({ordered[int(len(ordered) * q)] for q in QUANTILES} - {ordered[0]})
        for cut in cuts:
            out.append(
                Feature(
                    f"{name} >= {cut:g}",
                    "fit",
                    f"{name} >= {cut:g}",
                    partial(_at_least, name, cut),
                )
            )
        return out
    for value, count in sorted(Counter(map(str, values)).items()):
        if count >= support and count <= len(values) - support // 2:
            out.append(
                Feature(
                    f"{name} is {value}",
                    "fit",
                    f"{name} == {json.dumps(value)}",
                    partial(_equal, name, value),
                )
            )
    return out


def fit(
    train: Sequence[Example], chosen: Sequence[Feature], strength: float = 1.0
) -> list[dict[str, Any]]:
    """The scorecard: each feature's logistic-regression weight as points (ten to a unit
    of log-odds, rounded), the ones worth less than ``MIN_POINTS`` left out."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise ConfigError(
            "`leadsync suggest` fits with scikit-learn: pip install 'leadsync[suggest]'"
        ) from None
    rows = [[f.value(x) for f in chosen] for x in train]
    outcomes = [x.reached for x in train]
    if len(set(outcomes)) < 2:
        raise ConfigError("every stored lead has the same outcome: nothing to learn from yet")
    model = LogisticRegression(C=strength, max_iter=5000).fit(rows, outcomes)
    rules = []
    for feature, weight in zip(chosen, model.coef_[0], strict=True):
        points = round(float(weight) * POINTS_PER_LOG_ODDS)
        if abs(points) >= MIN_POINTS:
            rules.append(
                {
                    "name": feature.name,
                    "category": feature.category,
                    "when": feature.when,
                    "points": points,
                }
            )
    return rules


def held_out_auc(scoring: Scoring, test: Sequence[Example], now: datetime) -> float | None:
    """The ROC AUC of ``scoring``'s total on the held-out leads, scored as a sync would."""
    tally: dict[float, list[int]] = {}
    for x in test:
        total = round(score(scoring, x.values, x.events, now).total, 6)
        counts = tally.setdefault(total, [0, 0])
        counts[0] += 1
        counts[1] += x.reached
    return roc_auc(tally)


def suggest(
    examples: Sequence[Example],
    fields: dict[str, str],
    current: Scoring | None,
    now: datetime,
    *,
    outcome: str = "sql",
    exclude: Sequence[str] = (),
    holdout: float = 0.3,
    how: str = "random",
) -> Suggestion:
    """Fit on the training share, judge on the held-out one, beside ``current``."""
    train, test = split(examples, holdout, how)
    rules = fit(train, features(train, exclude))
    scoring = compile_scoring(rules, fields)
    return Suggestion(
        rules=rules,
        outcome=outcome,
        split=how,
        trained_on=len(train),
        held_out=len(test),
        auc=held_out_auc(scoring, test, now),
        current_auc=held_out_auc(current, test, now) if current is not None else None,
        excluded=sorted(exclude),
    )


def as_toml(s: Suggestion) -> str:
    """The suggestion as a ``[scoring]`` section, with how it was made and judged."""

    def auc(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [
        "# Suggested by `leadsync suggest scoring`: a logistic regression on the outcome",
        f"# {s.outcome!r}, trained on {s.trained_on:,} stored leads ({s.split} split),",
        f"# judged on {s.held_out:,} held out: ROC AUC {auc(s.auc)} "
        f"(the config's rules: {auc(s.current_auc)}).",
        f"# Left out: {', '.join(s.excluded) or 'nothing'}. Try it first: leadsync preview.",
        "[scoring]",
        "half_life_days = 30",
    ]
    for rule in s.rules:
        lines += [
            "",
            "[[scoring.rules]]",
            f"name = {_toml_string(rule['name'])}",
            f"category = {_toml_string(rule['category'])}",
            f"when = {_toml_string(rule['when'])}",
            f"points = {rule['points']}",
        ]
    return "\n".join(lines) + "\n"


def _toml_string(text: str) -> str:
    """A literal string ('...') where it can be one, for conditions' own double quotes;
    else a basic one, escaped as JSON (which TOML's basic strings read the same)."""
    if "'" not in text and "\n" not in text:
        return f"'{text}'"
    return json.dumps(text)


# Each feature's value for an example: 1.0 or 0.0, or a number of events (at most 5).
def _events_of(kind: str, x: Example) -> float:
    return float(min(sum(e.get("type") == kind for e in x.events), 5))


def _absent(name: str, x: Example) -> float:
    return float(x.values.get(name) is None)


def _true(name: str, x: Example) -> float:
    return float(x.values.get(name) is True)


def _at_least(name: str, cut: float, x: Example) -> float:
    value = x.values.get(name)
    return float(isinstance(value, int | float) and not isinstance(value, bool) and value >= cut)


def _equal(name: str, value: str, x: Example) -> float:
    return float(str(x.values.get(name)) == value)
