"""Routing: who owns a lead that sales should see. Ordered rules, the first match wins.

Pure: ``route(routing, context, pool_states, today) -> Route``. A rule's target is
an owner, a territory table (country, state or postal-code prefix to owner) or a
weighted round-robin pool; when no rule matches, or its target has nobody for
this lead, the fallback owner takes it. The route says which rule matched and
why each rule before it did not, for `leadsync explain`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from leadsync.rules.conditions import Condition
from leadsync.rules.roundrobin import Pool, assign


@dataclass(frozen=True)
class Territory:
    name: str
    by: str  # the lead field: country, state or postal_code
    owners: Mapping[str, str]  # value (or postal prefix) -> owner

    def owner_for(self, lead: Mapping[str, Any]) -> str | None:
        value = str(lead.get(self.by) or "").strip().upper()
        if not value:
            return None
        if self.by == "postal_code":  # the longest prefix that names an owner
            for length in range(len(value), 0, -1):
                owner = self.owners.get(value[:length])
                if owner:
                    return owner
            return None
        return self.owners.get(value)


@dataclass(frozen=True)
class RouteRule:
    name: str
    when: Condition
    owner: str | None = None
    territory: str | None = None
    pool: str | None = None


@dataclass(frozen=True)
class Routing:
    rules: tuple[RouteRule, ...]
    fallback_owner: str
    pools: Mapping[str, Pool] = field(default_factory=dict)
    territories: Mapping[str, Territory] = field(default_factory=dict)
    away: frozenset[str] = frozenset()  # out of office: skipped by pools
    keep_existing: bool = True


@dataclass(frozen=True)
class Route:
    owner: str
    reason: str
    skipped: tuple[str, ...] = ()  # why each earlier rule did not decide
    pool: str | None = None
    pool_state: dict[str, Any] | None = None  # the pool's new state, for the caller to store
    inactive: str | None = None  # the owner a rule chose who can no longer own leads


def route(
    routing: Routing,
    context: Mapping[str, Any],
    pool_states: Mapping[str, Mapping[str, Any]],
    today: date,
    active: Collection[str] | None = None,
    existing: Callable[[], str | None] | None = None,
) -> Route:
    """``active``: the owners the CRM accepts (active users, queues); None when unknown.
    ``existing``: who already owns this person in the CRM, asked only when it matters."""
    skipped: list[str] = []
    lead = context.get("lead") or {}
    if routing.keep_existing and existing is not None:
        owner = existing()
        if owner and (active is None or owner in active):
            return Route(owner, f"kept: this person already belongs to {owner} in the CRM")
        if owner:
            skipped.append(f"the CRM's owner of this person, {owner}, is not active")

    def chosen(owner: str, reason: str) -> Route:
        if active is not None and owner not in active:
            return Route(
                routing.fallback_owner,
                f"{reason}, who is not an active user or queue: the fallback owner",
                tuple(skipped),
                inactive=owner,
            )
        return Route(owner, reason, tuple(skipped))

    for rule in routing.rules:
        if not rule.when(context):
            skipped.append(f"{rule.name}: {rule.when.source} does not hold")
            continue
        if rule.owner:
            return chosen(rule.owner, f"rule {rule.name!r}: owner {rule.owner}")
        if rule.territory:
            territory = routing.territories[rule.territory]
            owner = territory.owner_for(lead)
            if owner:
                value = lead.get(territory.by)
                return chosen(
                    owner,
                    f"rule {rule.name!r}: territory {territory.name} ({territory.by} {value})",
                )
            skipped.append(
                f"{rule.name}: territory {territory.name} has no owner for "
                f"{territory.by} {lead.get(territory.by)!r}"
            )
            continue
        if rule.pool:
            pool = routing.pools[rule.pool]
            available = {m.owner for m in pool.members} - routing.away
            if active is not None:
                available &= set(active)  # a rep who left takes no more turns
            owner, state = assign(pool, pool_states.get(rule.pool) or {}, available, today)
            if owner:
                return Route(
                    owner,
                    f"rule {rule.name!r}: round robin in pool {pool.name}",
                    tuple(skipped),
                    pool=pool.name,
                    pool_state=state,
                )
            skipped.append(f"{rule.name}: everyone in pool {pool.name} is away or at their cap")
    return Route(routing.fallback_owner, "no rule decided: the fallback owner", tuple(skipped))
