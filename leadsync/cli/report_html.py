"""`leadsync report --format html`: the report as one self-contained HTML file.

Charts are inline SVG (no script, no font, no request to anywhere: the file opens the
same from a mail attachment or a shared drive), each followed by the table of its
numbers: the funnel, conversion by week, time to first touch by owner, plan against
actual, and score calibration (the outcome's rate by score band).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from leadsync.state.ledger import STAGES

WIDTH, BAR, GAP, LABEL = 640, 22, 6, 190
STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 760px; color: #222 }
h1 { font-size: 1.4rem } h2 { font-size: 1.1rem; margin-top: 2.2rem }
table { border-collapse: collapse; margin: .6rem 0 } td, th { padding: 2px 10px; text-align: right }
td:first-child, th:first-child { text-align: left } th { border-bottom: 1px solid #999 }
svg text { font: 12px system-ui, sans-serif } .note { color: #666 }
"""


def as_html(
    report: dict[str, Any],
    weekly: dict[str, Any],
    scoring: dict[str, Any] | None,
    plan: dict[str, Any] | None,
) -> str:
    """The page: ``report`` (the period's funnel, follow-up and owners), ``weekly`` (the
    same by week), and the scoring and plan reports when there are any."""
    period = report["period"]
    span = f"{(period['since'] or 'the start')[:10]} to {(period['until'] or 'now')[:10]}"
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Lead funnel, {escape(span)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Lead funnel, {escape(span)}</h1>",
        f'<p class="note">As of {escape(report["generated_at"][:16].replace("T", " "))} UTC.</p>',
    ]
    parts += _funnel(report)
    parts += _weekly(weekly)
    parts += _first_touch(report)
    if plan is not None:
        parts += _plan(plan)
    if scoring is not None:
        parts += _calibration(scoring)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _funnel(report: dict[str, Any]) -> list[str]:
    row = next((r for r in report["funnel"] if r["group"] == "all"), None)
    if row is None:
        return ["<h2>Funnel</h2>", '<p class="note">No lead entered a stage in the period.</p>']
    bars = [(stage, row["entered"][stage]) for stage in STAGES]
    steps = [
        [step.replace(">", " to "), c["from"], c["to"], _pct(c["rate"]), _num(c["median_days"])]
        for step, c in row["conversion"].items()
    ]
    return [
        "<h2>Funnel: leads entering each stage</h2>",
        _bars(bars, lambda v: f"{v:,}"),
        _table(["step", "from", "went on", "rate", "median days"], steps),
    ]


def _weekly(weekly: dict[str, Any]) -> list[str]:
    rows = [r for r in weekly["funnel"] if "mql>sal" in r["conversion"]]
    if not rows:
        return []
    bars = [(r["group"], r["conversion"]["mql>sal"]["rate"] or 0.0) for r in rows]
    table = [
        [r["group"], r["entered"]["mql"], r["conversion"]["mql>sal"]["to"],
         _pct(r["conversion"]["mql>sal"]["rate"])]
        for r in rows
    ]  # fmt: skip
    return [
        "<h2>MQL to SAL by week (the week of the MQL)</h2>",
        _bars(bars, _pct, top=1.0),
        _table(["week of", "MQLs", "accepted", "rate"], table),
    ]


def _first_touch(report: dict[str, Any]) -> list[str]:
    owners = [o for o in report["owners"] if o["median_hours_to_first_touch"] is not None]
    if not owners:
        return []
    bars = [(o.get("name") or o["owner"], o["median_hours_to_first_touch"]) for o in owners]
    table = [
        [o.get("name") or o["owner"], o["mqls"], _pct(o["follow_up_rate"]),
         _num(o["median_hours_to_first_touch"]), _num(o["median_business_hours_to_first_touch"])]
        for o in owners
    ]  # fmt: skip
    return [
        "<h2>Time to first touch: median hours, by owner</h2>",
        _bars(bars, lambda v: f"{v:.1f} h"),
        _table(["owner", "MQLs", "followed up", "median h", "median business h"], table),
    ]


def _plan(plan: dict[str, Any]) -> list[str]:
    out = ["<h2>Plan against actual</h2>"]
    for t in plan["targets"]:
        title = f"{t['period']}, {t['segment'] or 'all leads'} ({t['elapsed'] * 100:.0f}% elapsed)"
        bars, rows = [], []
        for stage in ("mql", "sql"):
            if stage in t:
                f = t[stage]
                bars += [
                    (f"{stage.upper()} target", f["target"]),
                    (f"{stage.upper()} actual", f["actual"]),
                ]
                rows.append(
                    [stage.upper(), f["target"], f["actual"], _int(f["projected"]),
                     _int(f["inquiries_needed"])]
                )  # fmt: skip
        out += [
            f"<h3>{escape(title)}</h3>",
            _bars(bars, lambda v: f"{v:,}"),
            _table(["", "target", "actual", "projected", "inquiries needed"], rows),
        ]
    return out


def _calibration(scoring: dict[str, Any]) -> list[str]:
    bands = [b for b in scoring["bands"] if b["leads"]]
    if not bands:
        return []
    auc = scoring["auc"]
    label = lambda b: f"{b['from']:g} to {b['to']:g}"  # noqa: E731
    return [
        "<h2>Score calibration: the outcome's rate by score band</h2>",
        f'<p class="note">ROC AUC {"-" if auc is None else f"{auc:.3f}"} over '
        f"{scoring['leads']:,} leads first seen in the period.</p>",
        _bars([(label(b), b["rate"] or 0.0) for b in bands], _pct, top=1.0),
        _table(
            ["score", "leads", "reached", "rate"],
            [[label(b), b["leads"], b["reached"], _pct(b["rate"])] for b in bands],
        ),
    ]


def _bars(items: Sequence[tuple[str, float]], text: Any, top: float | None = None) -> str:
    """A horizontal bar chart, in SVG, with each bar's label and value written out."""
    top = top or max((v for _, v in items), default=0) or 1
    span = WIDTH - LABEL - 70
    height = len(items) * (BAR + GAP) + GAP
    out = [f'<svg role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">']
    for i, (name, value) in enumerate(items):
        y = GAP + i * (BAR + GAP)
        length = max(0.0, span * value / top)
        out += [
            f'<text x="{LABEL - 8}" y="{y + 15}" text-anchor="end">{escape(str(name))}</text>',
            f'<rect x="{LABEL}" y="{y}" width="{length:.1f}" height="{BAR}" fill="#3b6ea8"/>',
            f'<text x="{LABEL + length + 6:.1f}" y="{y + 15}">{escape(text(value))}</text>',
        ]
    out.append("</svg>")
    return "".join(out)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
