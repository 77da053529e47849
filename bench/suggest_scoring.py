"""`leadsync suggest scoring` on the real X Education export, held out, beside the
hand-written rules of bench/xeducation_scoring.toml (issue 14: at least 0.88 held out).

Maps ../shared/data/xeducation_leads.csv with the test fixture's source map, plus the
columns that fixture leaves unmapped (as custom fields, so that the suggestion could
use them), gives each lead the same behaviour events bench/scoring_auc.py does (its
time on the website, its last activity), and holds out 30% of the leads two ways: a
seeded random share, and the newest by Lead Number (the export's only clock). The
sales-side columns written after the fact (Tags, Lead Quality, Lead Profile, the
Asymmetrique indexes and scores) are mapped too and left out with `exclude`, as an
admin's [suggest] would; `--with-leaks` keeps them, to show what they would fake.

Both scorecards are scored by leadsync's own scoring on the same held-out leads.

Usage: python3 bench/suggest_scoring.py [--with-leaks]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadsync import config as cfg  # noqa: E402
from leadsync.mapping.fieldmap import compile_source_map, lead_fields  # noqa: E402
from leadsync.ops.suggest import Example, held_out_auc, split, suggest  # noqa: E402
from leadsync.rules.scoring import compile_scoring  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "xeducation_leads.csv"
NOW = datetime(2026, 11, 23, tzinfo=UTC)
LEAKS = (
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
)
NOT_ATTRIBUTES = ("Prospect ID", "Lead Number", "Converted")


def snake(column: str) -> str:
    return "x_" + re.sub(r"[^a-z0-9]+", "_", column.lower()).strip("_")


def examples() -> tuple[list[Example], dict[str, str]]:
    """The export's leads, in Lead Number order, and the lead's fields."""
    for var in ("SF_USERNAME", "SF_PASSWORD", "SF_SECURITY_TOKEN", "SANDBOX_URL"):
        os.environ.setdefault(var, "unused")
    settings = cfg.load(ROOT / "tests" / "fixtures" / "xeducation.toml").settings
    custom = dict(settings.lead.custom_fields)
    smap = compile_source_map(
        "xeducation", settings.sources["xeducation"].fields, custom, Path("xeducation.toml")
    )
    with REAL.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    mapped = set()  # the columns the fixture's map reads
    for rule in settings.sources["xeducation"].fields.values():
        source = rule if isinstance(rule, str) else rule.source
        mapped |= {source} if isinstance(source, str) else set(source)
    extra = [c for c in rows[0] if c not in mapped and c not in NOT_ATTRIBUTES]
    custom |= {snake(c): "str" for c in extra}
    out = []
    for row in sorted(rows, key=lambda r: int(r["Lead Number"])):
        data = {k: (None if v in ("", "Select") else v) for k, v in row.items()}
        lead = {k: v for k, v in smap.apply(data).items() if v is not None}
        lead |= {snake(c): data[c] for c in extra if data[c] is not None}
        events = [{"type": "website", "seconds": lead.get("time_on_website") or 0}]
        if lead.get("last_activity"):
            events.append({"type": lead["last_activity"]})
        out.append(Example(row["Prospect ID"], lead, events, row["Converted"] == "1"))
    return out, lead_fields(custom)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--with-leaks", action="store_true")
    args = parser.parse_args()
    leads, fields = examples()
    raw = tomllib.loads((ROOT / "bench" / "xeducation_scoring.toml").read_text())["scoring"]
    hand = compile_scoring(raw.pop("rules"), fields, **raw)
    exclude = [] if args.with_leaks else [snake(c) for c in LEAKS]
    print(f"$ python3 bench/suggest_scoring.py{' --with-leaks' if args.with_leaks else ''}")
    print(f"{len(leads):,} leads, {sum(x.reached for x in leads):,} converted; left out: "
          f"{', '.join(exclude) or 'nothing'}")  # fmt: skip
    print(f"{'split':<8}{'rules':>6}{'suggested':>11}{'hand-written':>14}{'fit s':>7}")
    for how in ("random", "time"):
        started = time.perf_counter()
        made = suggest(leads, fields, None, NOW, exclude=exclude, how=how)
        took = time.perf_counter() - started
        _, test = split(leads, 0.3, how)
        baseline = held_out_auc(hand, test, NOW)
        print(f"{how:<8}{len(made.rules):>6}{made.auc:>11.3f}{baseline:>14.3f}{took:>7.1f}")


if __name__ == "__main__":
    main()
