"""Benchmark: leads per second through decide (score, stage, route, the follow-up task).

Synthetic leads (a fixed seed), each with `--events` events, decided in memory
with a rule set of `--rules` rules and then of ten times as many, in the same
run, so that the figures show how the cost grows with the rule set. Half the
rules are fit rules, half behaviour rules; their conditions are of the kinds
admins write (comparisons, `in`, `matches`, `contains`, event counts).

Usage: python3 bench/decide.py [--leads 100000] [--rules 30] [--events 10]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from leadsync.mapping.lead import STANDARD_FIELDS  # noqa: E402
from leadsync.rules.conditions import parse  # noqa: E402
from leadsync.rules.decide import Rules, decide  # noqa: E402
from leadsync.rules.handoff import TaskSpec, follow_up  # noqa: E402
from leadsync.rules.lifecycle import LifecycleRules, MqlThreshold  # noqa: E402
from leadsync.rules.roundrobin import Member, Pool  # noqa: E402
from leadsync.rules.routing import RouteRule, Routing  # noqa: E402
from leadsync.rules.scoring import compile_scoring  # noqa: E402

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
TITLES = ["VP Marketing", "Head of Sales", "Analyst", "CTO", "Student", "Manager", "Founder"]
COUNTRIES = ["US", "GB", "DE", "IN", "BR", "FR", "CA", "JP"]
EVENT_TYPES = ["form_submit", "page_view", "email_click", "email_open", "download", "webinar"]
PAGES = ["/pricing", "/blog/a", "/docs", "/demo", "/careers", "/customers"]

FIT_CONDITIONS = [
    'title matches "(vp|head|chief|cto|ceo|founder)"',
    'country in ["US", "GB", "DE", "CA"]',
    "employees >= 200",
    'title contains "student"',
    'email matches "@(gmail|yahoo)\\\\."',
    "exists(phone) and not email_opt_out",
]
BEHAVIOUR_CONDITIONS = [
    'event.type == "form_submit"',
    'event.type == "page_view" and event.url contains "pricing"',
    'event.type in ["email_click", "download"]',
    'event.type == "webinar" and event.at >= days_ago(30)',
    'event.type == "page_view" and event.url matches "^/(demo|customers)"',
]


def rule_set(n: int):
    rules = []
    for i in range(n):
        fit = i % 2 == 0
        pool = FIT_CONDITIONS if fit else BEHAVIOUR_CONDITIONS
        rules.append(
            {
                "name": f"rule {i}",
                "category": "fit" if fit else "behaviour",
                "when": pool[i // 2 % len(pool)],
                "points": 5 + i % 20,
                "cap": None if fit else 40,
            }
        )
    scoring = compile_scoring(
        rules, STANDARD_FIELDS, half_life_days=30, fit_cap=100, behaviour_cap=100
    )
    lifecycle = LifecycleRules(
        mql=MqlThreshold(total=150), lead_when=parse("exists(email)", STANDARD_FIELDS)
    )
    routing = Routing(
        rules=(
            RouteRule("big", parse("employees >= 1000", STANDARD_FIELDS), owner="005BIG"),
            RouteRule("pool", parse("exists(email)", STANDARD_FIELDS), pool="inbound"),
        ),
        fallback_owner="005FALLBACK",
        pools={"inbound": Pool("inbound", (Member("005A", 2), Member("005B"), Member("005C")))},
    )
    return Rules(scoring=scoring, lifecycle=lifecycle, routing=routing)


def leads(n: int, events: int, seed: int = 7):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lead = {
            "email": f"p{i}@{rng.choice(['acme.example', 'gmail.com'])}",
            "title": rng.choice(TITLES),
            "country": rng.choice(COUNTRIES),
            "employees": rng.choice([5, 50, 200, 1000, 5000]),
            "phone": "+14155550100" if rng.random() < 0.6 else None,
            "email_opt_out": rng.random() < 0.1,
        }
        evs = [
            {
                "type": rng.choice(EVENT_TYPES),
                "url": rng.choice(PAGES),
                "at": (NOW - timedelta(days=rng.uniform(0, 120))).isoformat(),
            }
            for _ in range(events)
        ]
        out.append((lead, evs))
    return out


def run(rules: Rules, data, spec: TaskSpec) -> tuple[float, int]:
    pools: dict = {}
    mqls = 0
    start = time.perf_counter()
    for i, (lead, evs) in enumerate(data):
        d = decide(rules, lead, evs, [], NOW, pool_states=pools)
        if d.route is not None and d.route.pool and d.route.pool_state is not None:
            pools[d.route.pool] = d.route.pool_state
        if d.route is not None:
            mqls += 1
            follow_up(spec, lead, d, evs, d.entries[-1], d.route.owner, f"k{i}")
    return time.perf_counter() - start, mqls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=30)
    parser.add_argument("--events", type=int, default=10)
    args = parser.parse_args()
    data = leads(args.leads, args.events)
    spec = TaskSpec("Follow up: $title at $country")
    print(
        f"$ python3 bench/decide.py --leads {args.leads} --rules {args.rules} "
        f"--events {args.events}"
    )
    results = {}
    for n in (args.rules, args.rules * 10):
        seconds, mqls = run(rule_set(n), data, spec)
        results[n] = seconds
        print(
            f"{n:>4} rules: {args.leads / seconds:>9,.0f} leads/s ({seconds:.1f} s; "
            f"{mqls:,} MQLs routed, each with its task)"
        )
    small, large = args.rules, args.rules * 10
    print(
        f"{large} rules cost {results[large] / results[small]:.1f}x the time of {small} "
        f"(the rule set is 10x larger)"
    )


if __name__ == "__main__":
    main()
