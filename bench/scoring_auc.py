"""How well a hand-written scoring ranks the real export's outcome (its `Converted` column).

Maps ../shared/data/xeducation_leads.csv with the test fixture's source map,
scores every lead with bench/xeducation_scoring.toml, and prints the score
distribution, the conversion rate per score band, and the ROC AUC of the score
against `Converted` (the chance that a converted lead outscores one that did not),
against the baseline of the best single rule in the same run.

Usage: python3 bench/scoring_auc.py
"""

from __future__ import annotations

import csv
import os
import sys
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadsync import config as cfg  # noqa: E402
from leadsync.mapping.fieldmap import compile_source_map, lead_fields  # noqa: E402
from leadsync.rules.scoring import compile_scoring, score  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "xeducation_leads.csv"
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def roc_auc(scores: list[float], outcomes: list[bool]) -> float:
    """Mann-Whitney U over average ranks (ties share their rank), divided by n1 * n0."""
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    positives = sum(outcomes)
    negatives = len(outcomes) - positives
    rank_sum = sum(r for r, y in zip(ranks, outcomes, strict=True) if y)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def main() -> None:
    for var in ("SF_USERNAME", "SF_PASSWORD", "SF_SECURITY_TOKEN", "SANDBOX_URL"):
        os.environ.setdefault(var, "unused")
    settings = cfg.load(ROOT / "tests" / "fixtures" / "xeducation.toml").settings
    custom = settings.lead.custom_fields
    smap = compile_source_map(
        "xeducation", settings.sources["xeducation"].fields, custom, Path("xeducation.toml")
    )
    raw = tomllib.loads((ROOT / "bench" / "xeducation_scoring.toml").read_text())["scoring"]
    rules = raw.pop("rules")
    scoring = compile_scoring(rules, lead_fields(custom), **raw)

    scores, outcomes, by_rule = [], [], {r["name"]: [] for r in rules}
    with REAL.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            data = {k: (None if v in ("", "Select") else v) for k, v in row.items()}
            lead = smap.apply(data)
            events = [{"type": "website", "seconds": lead.get("time_on_website") or 0}]
            if lead.get("last_activity"):
                events.append({"type": lead["last_activity"]})
            s = score(scoring, lead, events, NOW)
            scores.append(s.total)
            outcomes.append(row["Converted"] == "1")
            gave = {c.rule for c in s.breakdown if c.points}
            for name in by_rule:
                by_rule[name].append(1.0 if name in gave else 0.0)

    auc = roc_auc(scores, outcomes)
    best_rule, best_auc = max(
        (
            (name, max(roc_auc(v, outcomes), 1 - roc_auc(v, outcomes)))
            for name, v in by_rule.items()
        ),
        key=lambda pair: pair[1],
    )
    print("$ python3 bench/scoring_auc.py")
    print(
        f"leads: {len(scores):,}; converted: {sum(outcomes):,} ({sum(outcomes) / len(scores):.1%})"
    )
    print(
        f"rules: {len(rules)} ({sum(r['category'] == 'fit' for r in rules)} fit, "
        f"{sum(r['category'] == 'behaviour' for r in rules)} behaviour)"
    )
    print(
        f"ROC AUC of the total score: {auc:.3f}; best single rule alone ({best_rule!r}): "
        f"{best_auc:.3f}"
    )
    print("score band   leads  converted")
    bands = Counter((int(s // 20) * 20) for s in scores)
    won = Counter((int(s // 20) * 20) for s, y in zip(scores, outcomes, strict=True) if y)
    for band in sorted(bands):
        print(f"{band:>4} to {band + 19:<4} {bands[band]:>6}  {won[band] / bands[band]:>8.1%}")


if __name__ == "__main__":
    main()
