"""Routing rules: first match wins; owners, territories, pools, absences and the fallback."""

from __future__ import annotations

from collections import Counter
from datetime import date

from leadsync.mapping.lead import STANDARD_FIELDS
from leadsync.rules.conditions import parse
from leadsync.rules.roundrobin import Member, Pool
from leadsync.rules.routing import RouteRule, Routing, Territory, route

TODAY = date(2026, 11, 23)


def rule(name, when, **target):
    return RouteRule(name, parse(when, STANDARD_FIELDS), **target)


ROUTING = Routing(
    rules=(
        rule("enterprise", "employees >= 1000", owner="005ENT"),
        rule("emea", 'country in ["GB", "DE", "FR"]', territory="emea"),
        rule("us west", 'country == "US" and exists(postal_code)', territory="us_west"),
        rule("inbound", "exists(email)", pool="inbound"),
    ),
    fallback_owner="005FALLBACK",
    pools={"inbound": Pool("inbound", (Member("005ANN", 2), Member("005BO"), Member("005CY")))},
    territories={
        "emea": Territory("emea", "country", {"GB": "005UK", "DE": "005DE"}),
        "us_west": Territory("us_west", "postal_code", {"9": "005WEST", "941": "005SF"}),
    },
)


def owner_of(lead, routing=ROUTING, states=None):
    return route(routing, {"lead": lead}, states or {}, TODAY)


def test_first_matching_rule_wins_and_says_why_the_others_did_not():
    """An enterprise lead in Germany goes to the enterprise owner: that rule comes first."""
    r = owner_of({"employees": 5000, "country": "DE", "email": "a@x.example"})
    assert (r.owner, r.reason) == ("005ENT", "rule 'enterprise': owner 005ENT")
    r = owner_of({"employees": 10, "country": "DE", "email": "a@x.example"})
    assert r.owner == "005DE"
    assert r.skipped == ("enterprise: employees >= 1000 does not hold",)


def test_a_territory_without_an_owner_for_the_value_falls_through():
    """France is in the EMEA rule but has no owner there: the next rule decides."""
    r = owner_of({"country": "FR", "email": "a@x.example"})
    assert r.pool == "inbound"
    assert "territory emea has no owner for country 'FR'" in r.skipped[1]


def test_postal_codes_take_the_longest_prefix():
    """94107 is San Francisco's owner (941), 98101 the West's (9)."""
    assert owner_of({"country": "US", "postal_code": "94107"}).owner == "005SF"
    assert owner_of({"country": "US", "postal_code": "98101"}).owner == "005WEST"


def test_a_pool_rotates_by_weight_and_skips_who_is_away():
    """Inbound leads share 2:1:1; with Bo away, Ann and Cy share 2:1."""
    states: dict = {}
    owners = []
    for _ in range(400):
        r = owner_of({"email": "a@x.example"}, states=states)
        states[r.pool] = r.pool_state
        owners.append(r.owner)
    assert Counter(owners) == {"005ANN": 200, "005BO": 100, "005CY": 100}
    away = Routing(
        ROUTING.rules,
        ROUTING.fallback_owner,
        ROUTING.pools,
        ROUTING.territories,
        away=frozenset({"005BO"}),
    )
    assert "005BO" not in {owner_of({"email": "a@x.example"}, away).owner for _ in range(9)}


def test_nothing_matches_the_fallback_owner_takes_it():
    """A lead no rule decides goes to the fallback owner, with every reason listed."""
    r = owner_of({})
    assert (r.owner, r.reason) == ("005FALLBACK", "no rule decided: the fallback owner")
    assert len(r.skipped) == 4


def test_an_inactive_owner_falls_back_and_leaves_the_pool():
    """A rule that lands on someone who left goes to the fallback; pools skip them."""
    active = {"005UK", "005ANN", "005CY", "005FALLBACK"}
    r = route(ROUTING, {"lead": {"employees": 5000}}, {}, TODAY, active)
    assert (r.owner, r.inactive) == ("005FALLBACK", "005ENT")
    assert r.reason == (
        "rule 'enterprise': owner 005ENT, who is not an active user or queue: the fallback owner"
    )
    owners = set()
    states: dict = {}
    for _ in range(12):
        r = route(ROUTING, {"lead": {"email": "a@x.example"}}, states, TODAY, active)
        states[r.pool] = r.pool_state
        owners.add(r.owner)
    assert owners == {"005ANN", "005CY"}  # Bo is not among the active: no turn for Bo
