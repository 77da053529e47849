"""Wiring: the connectors and compiled maps a config asks for, built and validated once.

Each map also gets a fingerprint. The pipeline keeps the fingerprint in force
with its checkpoints, so that a changed source map re-maps that source and a
changed CRM map re-plans every lead.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy.orm import Session, sessionmaker

from leadsync import log
from leadsync.config import Config
from leadsync.connectors.base import Destination, FieldGuard, Source
from leadsync.connectors.registry import connector_class
from leadsync.connectors.webhook import WebhookSource
from leadsync.errors import ConfigError
from leadsync.mapping.events import EventMap
from leadsync.mapping.fieldmap import (
    CrmMap,
    SourceMap,
    compile_crm_map,
    compile_source_map,
    lead_fields,
)
from leadsync.rules.conditions import Condition, ConditionError, parse
from leadsync.rules.decide import DECISION_FIELDS, Rules
from leadsync.rules.handoff import NurtureSpec, TaskSpec
from leadsync.rules.lifecycle import LifecycleRules, MqlThreshold
from leadsync.rules.roundrobin import Member, Pool
from leadsync.rules.routing import RouteRule, Routing, Territory
from leadsync.rules.scoring import ScoringError, compile_scoring
from leadsync.rules.sla import BusinessHours, SlaError, SlaPolicy, Terms, parse_duration
from leadsync.state import inbox
from leadsync.sync.feedback import FeedbackSpec

# How long the CRM's active owners are taken as known: someone deactivated meanwhile is
# refused by the CRM at push time (and dead-lettered alone), as when they leave mid-run.
OWNERS_TTL_SECONDS = 300.0


@dataclass
class Wiring:
    """Everything a run needs, built and validated from the config once."""

    config: Config
    sources: dict[str, tuple[Source, SourceMap]]
    destination: Destination
    crm_map: CrmMap
    rules: Rules = field(default_factory=Rules)
    events: dict[str, EventMap] = field(default_factory=dict)
    tasks: TaskSpec | None = None
    nurture: NurtureSpec | None = None
    feedback: FeedbackSpec | None = None
    sla: SlaPolicy | None = None
    # What each source's map looked like: a change re-maps that source's records.
    source_fingerprints: dict[str, str] = field(default_factory=dict)
    # (when asked, the answer): the CRM's active owners, shared by the runs of a service
    _owners: tuple[float, frozenset[str] | None] | None = field(default=None, repr=False)

    @cached_property
    def crm_fingerprint(self) -> str:
        """What the CRM map and the rules looked like: a change re-plans every lead."""
        s = self.config.settings
        return _fingerprint(
            s.crm.model_dump(mode="json", by_alias=True)["fields"],
            self.destination.external_id_field,
            s.lead.custom_fields,
            # A new scoring or lifecycle changes what leads are: every lead is decided again.
            # (how often a decayed score is written again is not what a lead is)
            s.scoring.model_dump(mode="json", exclude={"rescore_min_change"})
            if s.scoring
            else None,
            s.lifecycle.model_dump(mode="json") if s.lifecycle else None,
            s.routing.model_dump(mode="json") if s.routing else None,
            s.tasks.model_dump(mode="json") if s.tasks else None,
            s.nurture.model_dump(mode="json") if s.nurture else None,
        )

    @property
    def secrets(self) -> frozenset[str]:
        """Every connector's credentials: what the log must never show."""
        found = set(self.destination.secrets)
        for source, _ in self.sources.values():
            found |= source.secrets
        return frozenset(found)

    def active_owners(self) -> frozenset[str] | None:
        """The users and queues the CRM takes as owners, asked at most every few minutes: a
        service routing a form a second would otherwise ask for each one."""
        now = time.monotonic()
        known = self._owners
        if known is None or now - known[0] > OWNERS_TTL_SECONDS:
            known = self._owners = (now, self.destination.active_owners())
        return known[1]

    @property
    def webhook_sources(self) -> list[str]:
        """The sources that read the forms inbox (`type = "webhook"`)."""
        return [n for n, (s, _) in self.sources.items() if isinstance(s, WebhookSource)]

    def attach_inbox(self, factory: sessionmaker[Session]) -> None:
        """Hand the webhook sources their reader of the state db's forms inbox."""

        def read(source: str, last_id: int, limit: int) -> list[Any]:
            with factory() as session:
                rows = inbox.after(session, source, last_id, limit)
                return [SimpleNamespace(id=r.id, key=r.key, fields=r.fields) for r in rows]

        for name in self.webhook_sources:
            cast(WebhookSource, self.sources[name][0]).inbox = read

    def close(self) -> None:
        for source, _ in self.sources.values():
            source.close()
        self.destination.close()


def wire(config: Config) -> Wiring:
    """Connectors and compiled maps for a config; every problem in one ConfigError."""
    s = config.settings
    problems: list[str] = []
    sources: dict[str, tuple[Source, SourceMap]] = {}
    prints: dict[str, str] = {}
    events: dict[str, EventMap] = {}
    for name, section in s.sources.items():
        try:
            source, smap, event_map, prints[name] = _wire_source(config, name, section)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        sources[name] = (source, smap)
        if event_map is not None:
            events[name] = event_map
    destination: Any = None
    crm_map: Any = None
    try:
        destination, crm_map = _wire_destination(config)
    except ConfigError as exc:
        problems.extend(exc.problems)
    rules = _compile_rules(config, problems)
    tasks, nurture, feedback = _handoff(config, crm_map, problems)
    sla = _compile_sla(config, problems)
    if problems:
        raise ConfigError(problems)
    return Wiring(
        config, sources, destination, crm_map, rules, events, tasks, nurture, feedback, sla, prints
    )


def _wire_source(
    config: Config, name: str, section: Any
) -> tuple[Source, SourceMap, EventMap | None, str]:
    """One source: its connector, field map, event map, and the fingerprint of what maps
    its records (a change re-maps the source)."""
    custom = config.settings.lead.custom_fields
    cls = connector_class(section.type, "source")
    if not issubclass(cls, Source):
        raise ConfigError(
            f"{config.path}: sources.{name}.type: {section.type!r} is not a source connector"
        )
    options = section.options
    source = cast(Source, cls.from_options(name, options, key=f"sources.{name}", path=config.path))
    log.mask(source.secrets)  # from now on, whatever goes wrong
    smap = compile_source_map(name, section.fields, custom, config.path)
    event_map = EventMap(name, section.event) if section.event is not None else None
    source.want(smap.columns() | (event_map.columns() if event_map else set()))
    # Secrets dump as "**********": rotating a token does not re-map anything.
    fingerprint = _fingerprint(
        section.model_dump(mode="json", by_alias=True)["fields"],
        section.event.model_dump(mode="json") if section.event else None,
        source.what_maps(),
        custom,
    )
    return source, smap, event_map, fingerprint


def _wire_destination(config: Config) -> tuple[Destination, CrmMap]:
    """The CRM connector and its field map; the map's directions and email field set on it."""
    s = config.settings
    cls = connector_class(s.crm.type, "destination")
    if not issubclass(cls, Destination):
        raise ConfigError(f"{config.path}: crm.type: {s.crm.type!r} is not a CRM connector")
    destination = cast(
        Destination, cls.from_options("crm", s.crm.options, key="crm", path=config.path)
    )
    log.mask(destination.secrets)
    fields = {**s.lead.custom_fields, **DECISION_FIELDS}
    crm_map = compile_crm_map(s.crm.fields, fields, config.path)
    destination.guard = FieldGuard(
        create_only=frozenset(f.target for f in crm_map.fields if f.direction == "crm"),
        fill_if_empty=frozenset(f.target for f in crm_map.fields if f.direction == "fill_if_empty"),
    )
    destination.email_field = next(
        (f.target for f in crm_map.fields if f.sources == ("email",)), None
    )
    return destination, crm_map


def _handoff(
    config: Config, crm_map: CrmMap | None, problems: list[str]
) -> tuple[TaskSpec | None, NurtureSpec | None, FeedbackSpec | None]:
    """The follow-up task, nurture and feedback specs; each works by lifecycle stage."""
    s = config.settings
    if s.lifecycle is None:
        # Without stages none of these would ever act.
        needs = {
            "tasks": "tasks are made when a lead enters MQL; add a [lifecycle] section with "
            "its [lifecycle.mql] threshold",
            "nurture": "leads join and leave it by lifecycle stage; add a [lifecycle] section",
            "feedback": "sales' statuses move leads through the lifecycle; add a [lifecycle] "
            "section",
        }
        problems += [
            f"{config.path}: {name}: {why}"
            for name, why in needs.items()
            if getattr(s, name) is not None
        ]
    tasks = None
    if s.tasks is not None:
        tasks = TaskSpec(
            s.tasks.subject,
            s.tasks.due_in_hours,
            s.tasks.high_priority_score,
            s.tasks.max_age_days,
            s.tasks.description,
        )
    nurture = None
    if s.nurture is not None:
        try:
            when = parse(s.nurture.when, lead_fields(s.lead.custom_fields))
        except ConditionError as exc:
            problems.append(f"{config.path}: nurture.when: {exc}")
        else:
            stages = frozenset(s.nurture.stages)
            n = s.nurture
            nurture = NurtureSpec(n.campaign_id, when, stages, n.status, n.left_status)
    feedback = None
    if s.feedback is not None and s.lifecycle is not None and crm_map is not None:
        owner_fields = [f.target for f in crm_map.fields if f.sources == ("owner",)]
        fill = tuple(f.target for f in crm_map.fields if f.direction == "fill_if_empty")
        feedback = FeedbackSpec(
            s.feedback, owner_fields[0] if owner_fields else None, fill_if_empty=fill
        )
    return tasks, nurture, feedback


def _compile_sla(config: Config, problems: list[str]) -> SlaPolicy | None:
    """The follow-up SLA's terms (default, per owner, per routing pool) and ladder."""
    s = config.settings
    section = s.sla
    if section is None:
        return None
    if s.tasks is None:
        problems.append(f"{config.path}: sla: an SLA counts from a follow-up task: add [tasks]")

    def terms(key: str, part: Any, base: Terms | None) -> Terms | None:
        try:
            touch = part.first_touch or section.first_touch
            hours = part.business_hours or section.business_hours
            zone = part.timezone or section.timezone
            return Terms(parse_duration(touch), BusinessHours.parse(hours, zone))
        except SlaError as exc:
            problems.append(f"{config.path}: {key}: {exc}")
            return base

    default = terms("sla", section, None)
    owners = {o: terms(f"sla.owners.{o}", t, default) for o, t in section.owners.items()}
    pools = {p: terms(f"sla.pools.{p}", t, default) for p, t in section.pools.items()}
    known = set(s.routing.pools) if s.routing else set()
    problems += [
        f"{config.path}: sla.pools.{p}: no pool {p!r} in [routing.pools]"
        for p in pools
        if p not in known
    ]
    if default is None:
        return None
    return SlaPolicy(
        default,
        section.max_reassignments,
        section.manager,
        {o: t for o, t in owners.items() if t is not None},
        {p: t for p, t in pools.items() if t is not None},
        recycle_days=s.feedback.recycle_days if s.feedback else 90,
    )


def _compile_rules(config: Config, problems: list[str]) -> Rules:
    """Scoring and lifecycle rules, parsed once; each mistake named by its key and column."""
    s = config.settings
    fields = lead_fields(s.lead.custom_fields)
    scoring = None
    if s.scoring is not None:
        try:
            scoring = compile_scoring(
                [r.model_dump() for r in s.scoring.rules],
                fields,
                half_life_days=s.scoring.half_life_days,
                fit_cap=s.scoring.fit_cap,
                behaviour_cap=s.scoring.behaviour_cap,
            )
        except ScoringError as exc:
            for index, message in exc.problems:
                problems.append(f"{config.path}: scoring.rules[{index}]: {message}")
    lifecycle = None
    if s.lifecycle is not None:
        conditions: dict[str, Condition | None] = {}
        for key in ("lead_when", "disqualify_when"):
            text = getattr(s.lifecycle, key)
            try:
                conditions[key] = parse(text, fields) if text else None
            except ConditionError as exc:
                problems.append(f"{config.path}: lifecycle.{key}: {exc}")
        mql = s.lifecycle.mql
        lifecycle = LifecycleRules(
            mql=MqlThreshold(total=mql.total, fit=mql.fit, behaviour=mql.behaviour),
            lead_when=conditions.get("lead_when"),
            disqualify_when=conditions.get("disqualify_when"),
        )
    return Rules(
        scoring=scoring, lifecycle=lifecycle, routing=_compile_routing(config, fields, problems)
    )


def _compile_routing(config: Config, fields: dict[str, str], problems: list[str]) -> Routing | None:
    section = config.settings.routing
    if section is None:
        return None
    if config.settings.lifecycle is None:
        problems.append(
            f"{config.path}: routing: leads are routed when they enter MQL; "
            "add a [lifecycle] section with its [lifecycle.mql] threshold"
        )
    rules = []
    for i, r in enumerate(section.rules):
        key = f"{config.path}: routing.rules[{i}]"
        try:
            when = parse(r.when, fields)
        except ConditionError as exc:
            problems.append(f"{key}.when: {exc}")
            continue
        if r.pool and r.pool not in section.pools:
            problems.append(
                f"{key}.pool: no pool {r.pool!r} in [routing.pools] "
                f"(pools: {', '.join(section.pools) or 'none'})"
            )
        if r.territory and r.territory not in section.territories:
            problems.append(
                f"{key}.territory: no territory {r.territory!r} in [routing.territories] "
                f"(territories: {', '.join(section.territories) or 'none'})"
            )
        rules.append(RouteRule(r.name, when, owner=r.owner, territory=r.territory, pool=r.pool))
    pools = {
        name: Pool(name, tuple(Member(m.owner, m.weight, m.daily_cap) for m in p.members))
        for name, p in section.pools.items()
    }
    territories = {
        name: Territory(name, t.by, {k.upper(): v for k, v in t.owners.items()})
        for name, t in section.territories.items()
    }
    return Routing(
        tuple(rules),
        section.fallback_owner,
        pools,
        territories,
        frozenset(section.away),
        keep_existing=section.keep_existing_owner,
    )


def _fingerprint(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
