"""`leadsync report` for people and for spreadsheets: aligned tables, and CSV rows of
(section, group, figure, value) that a sheet can pivot."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any


def as_tables(report: dict[str, Any]) -> str:
    """The report as the terminal shows it: one table a section."""
    from leadsync.state.ledger import STAGES

    period = report["period"]
    span = f"{_when_text(period['since']) or 'the start'} to {_when_text(period['until']) or 'now'}"
    out = [f"Lead funnel, {span} (as of {_when_text(report['generated_at'])})", ""]
    funnel = report["funnel"]
    out += _section(
        "Leads entering each stage",
        ["group", *STAGES],
        [[_group(row), *(row["entered"][s] for s in STAGES)] for row in funnel],
    )
    out += _section(
        "Conversion (of the leads that entered the first stage in the period)",
        ["group", "step", "from", "to", "rate", "median days", "p90 days"],
        [
            [
                _group(row),
                step.replace(">", " > "),
                c["from"],
                c["to"],
                _pct(c["rate"]),
                _num(c["median_days"]),
                _num(c["p90_days"]),
            ]
            for row in funnel
            for step, c in row["conversion"].items()
        ],
    )
    out += _section(
        "Follow-up (the MQLs of the period; h: hours, bh: business hours of the [sla])",
        [
            "group",
            "MQLs",
            "touched",
            "rate",
            "within SLA",
            "rate",
            "median h",
            "p90 h",
            "median bh",
            "p90 bh",
            "breaches",
            "reassigned",
            "recycled unworked",
        ],
        [
            [
                _group(f),
                f["mqls"],
                f["touched"],
                _pct(f["follow_up_rate"]),
                f["touched_within_sla"],
                _pct(f["within_sla_rate"]),
                _num(f["median_hours_to_first_touch"]),
                _num(f["p90_hours_to_first_touch"]),
                _num(f["median_business_hours_to_first_touch"]),
                _num(f["p90_business_hours_to_first_touch"]),
                f["sla_breaches"],
                f["reassignments"],
                f["recycled_not_followed_up"],
            ]
            for f in report["follow_up"]
        ],
    )
    out += _section(
        "Owners (the MQLs of the period; open: MQLs waiting now)",
        [
            "owner",
            "MQLs",
            "open",
            "accepted",
            "rate",
            "followed up",
            "median h",
            "median bh",
            "breaches",
        ],
        [
            [
                o.get("name") or o["owner"],
                o["mqls"],
                o["open_mqls_now"],
                o["accepted"],
                _pct(o["acceptance_rate"]),
                _pct(o["follow_up_rate"]),
                _num(o["median_hours_to_first_touch"]),
                _num(o["median_business_hours_to_first_touch"]),
                o["sla_breaches"],
            ]
            for o in report["owners"]
        ],
    )
    r = report["recycling"]
    out += _section(
        f"Recycled in the period: {r['recycled']}; since then",
        ["qualified again", "accepted", "converted", "disqualified"],
        [[r["qualified_again"], r["accepted"], r["converted"], r["disqualified"]]],
    )
    out += _section("Why", ["reason", "leads"], [[k, v] for k, v in r["reasons"].items()])
    out += _section(
        "Recycled leads coming back",
        ["when", "leads"],
        [[when, n] for when, n in r["coming_back"].items()],
    )
    return "\n".join(out).rstrip() + "\n"


def as_csv(report: dict[str, Any]) -> str:
    """Every figure on its own row: section, group, figure, value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "group", "figure", "value"])
    writer.writerows(_figures(report))
    return buffer.getvalue()


def scoring_tables(report: dict[str, Any]) -> str:
    """`report scoring` as the terminal shows it."""
    period = report["period"]
    span = f"{_when_text(period['since']) or 'the start'} to {_when_text(period['until']) or 'now'}"
    outcome = {"sql": "reached SQL", "sal": "were accepted (SAL or further)"}[report["outcome"]]
    auc = report["auc"]
    out = [
        f"Scoring against outcomes, leads first seen {span}",
        f"  {report['leads']:,} leads, {report['reached']:,} {outcome} ({_pct(report['rate'])})",
        f"  ROC AUC of the score: {'-' if auc is None else f'{auc:.3f}'} "
        "(the chance a lead that did outscores one that did not; 0.5 is a coin)",
        "",
    ]
    out += _section(
        "MQLs against the other leads",
        ["leads", "count", "reached", "rate"],
        [
            [name, t["leads"], t["reached"], _pct(t["rate"])]
            for name, t in (("MQLs", report["mqls"]), ("other leads", report["other_leads"]))
        ],
    )
    out += _section(
        "By score band",
        ["score", "leads", "reached", "rate"],
        [
            [f"{b['from']:g} to {b['to']:g}", b["leads"], b["reached"], _pct(b["rate"])]
            for b in report["bands"]
        ],
    )
    out += _section(
        "By month first seen",
        ["month", "leads", "reached", "rate", "AUC"],
        [[m["month"], m["leads"], m["reached"], _pct(m["rate"]),
          "-" if m["auc"] is None else f"{m['auc']:.3f}"] for m in report["months"]],
    )  # fmt: skip
    return "\n".join(out).rstrip() + "\n"


def scoring_csv(report: dict[str, Any]) -> str:
    """`report scoring` as one figure a row: section, group, figure, value."""
    rows: list[list[Any]] = [["section", "group", "figure", "value"]]
    rows += [["scoring", "all", k, _cell(report[k])] for k in ("leads", "reached", "rate", "auc")]
    for name in ("mqls", "other_leads"):
        rows += [[name, "all", k, _cell(v)] for k, v in report[name].items()]
    for b in report["bands"]:
        group = f"{b['from']:g} to {b['to']:g}"
        rows += [["band", group, k, _cell(b[k])] for k in ("leads", "reached", "rate")]
    for m in report["months"]:
        rows += [["month", m["month"], k, _cell(m[k])] for k in ("leads", "reached", "rate", "auc")]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def plan_tables(report: dict[str, Any]) -> str:
    """`report plan` as the terminal shows it: a table a target."""
    out = [f"Plan against actual (as of {_when_text(report['generated_at'])})", ""]
    for t in report["targets"]:
        rates = t["rates"]
        title = f"{t['period']}, {t['segment'] or 'all leads'}: {t['elapsed'] * 100:.0f}% elapsed"
        rows = []
        for stage in ("mql", "sql"):
            if stage in t:
                f = t[stage]
                pace = "-" if f["on_pace"] is None else "on pace" if f["on_pace"] else "behind"
                rows.append(
                    [stage.upper(), f["target"], f["actual"], _num0(f["projected"]), pace,
                     f["remaining"], _num0(f.get("mqls_needed")), _num0(f["inquiries_needed"])]
                )  # fmt: skip
        out += _section(
            title,
            [
                "",
                "target",
                "actual",
                "projected",
                "pace",
                "remaining",
                "MQLs needed",
                "inquiries needed",
            ],
            rows,
        )
        out += [
            f"  at {rates['from']}'s rates: inquiry to MQL {_pct(rates['inquiry_to_mql'])}, "
            f"MQL to SQL {_pct(rates['mql_to_sql'])}",
            "",
        ]
    return "\n".join(out).rstrip() + "\n"


def plan_csv(report: dict[str, Any]) -> str:
    """`report plan` as one figure a row: section (the period), group (the segment)."""
    rows: list[list[Any]] = [["section", "group", "figure", "value"]]
    for t in report["targets"]:
        group = t["segment"] or "all"
        rows.append([t["period"], group, "elapsed", t["elapsed"]])
        rows += [[t["period"], group, k, _cell(v)] for k, v in t["rates"].items()]
        for stage in ("mql", "sql"):
            rows += [
                [t["period"], group, f"{stage} {k}", _cell(v)] for k, v in t.get(stage, {}).items()
            ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _num0(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _figures(report: dict[str, Any]) -> Iterator[list[Any]]:
    for row in report["funnel"]:
        for stage, n in row["entered"].items():
            yield ["entered", row["group"], stage, n]
        for step, c in row["conversion"].items():
            for figure, value in c.items():
                yield ["conversion", row["group"], f"{step} {figure}", _cell(value)]
    for section, key in (("follow_up", "group"), ("owners", "owner")):
        for row in report[section]:
            for figure, value in row.items():
                if figure != key:
                    yield [section, row[key], figure, _cell(value)]
    r = report["recycling"]
    for figure in ("recycled", "qualified_again", "accepted", "converted", "disqualified"):
        yield ["recycling", "all", figure, r[figure]]
    for reason, n in r["reasons"].items():
        yield ["recycling_reason", "all", reason, n]
    for when, n in r["coming_back"].items():
        yield ["coming_back", "all", when, n]


def _group(row: dict[str, Any]) -> str:
    """A row's group as people read it: an owner's name when known."""
    return str(row.get("name") or row["group"])


def _section(title: str, headers: Sequence[str], rows: list[list[Any]]) -> list[str]:
    if not rows:
        return [title, "  (nothing in the period)", ""]
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        first, *rest = row
        return "  " + "  ".join(
            [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        )

    return [title, *(line(row) for row in cells), ""]


def _when_text(iso: str | None) -> str | None:
    """An ISO time as people read it: the day alone at midnight, else to the minute, UTC."""
    if iso is None:
        return None
    day, _, clock = iso.partition("T")
    return day if clock.startswith("00:00:00") else f"{day} {clock[:5]} UTC"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _cell(value: Any) -> Any:
    return "" if value is None else value
