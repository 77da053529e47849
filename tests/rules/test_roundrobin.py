"""Weighted round robin: shares by weight, across restarts, around absences and caps."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta

import pytest

from leadsync.rules.roundrobin import Member, Pool, assign, empty_state

TODAY = date(2026, 11, 23)
POOL = Pool("inbound", (Member("ann", 2), Member("bo", 1), Member("cy", 1)))


def run(pool, n, available=None, today=TODAY, state=None, restart_every=1):
    state = state or empty_state()
    picks = []
    for i in range(n):
        owner, state = assign(pool, state, available, today)
        picks.append(owner)
        if i % restart_every == 0:
            state = json.loads(json.dumps(state))  # what a restart reads back from the db
    return picks, state


def test_weights_2_1_1_over_1000_across_restarts():
    """1,000 MQLs over weights 2:1:1 give 500/250/250, with the state reloaded after each pick."""
    picks, _ = run(POOL, 1000)
    assert Counter(picks) == {"ann": 500, "bo": 250, "cy": 250}


def test_picks_are_spread_not_bunched():
    """Within every 4 picks each member gets its share: no one waits for a burst to end."""
    picks, _ = run(POOL, 400)
    for i in range(0, 400, 4):
        assert Counter(picks[i : i + 4]) == {"ann": 2, "bo": 1, "cy": 1}


def test_an_absent_member_is_skipped_and_the_rest_keep_their_ratio():
    """With bo out of office, ann and cy share 2:1."""
    picks, _ = run(POOL, 300, available={"ann", "cy"})
    assert Counter(picks) == {"ann": 200, "cy": 100}


def test_a_daily_cap_is_honoured_and_resets_the_next_day():
    """A member at their cap gets no more today, and is back tomorrow."""
    capped = Pool("inbound", (Member("ann", 2), Member("bo", 1, daily_cap=10), Member("cy", 1)))
    picks, state = run(capped, 200)
    counts = Counter(picks)
    assert counts["bo"] == 10
    assert counts["ann"] + counts["cy"] == 190
    tomorrow, _ = run(capped, 4, today=TODAY + timedelta(days=1), state=state)
    assert "bo" in tomorrow


def test_nobody_available_returns_no_owner():
    """When every member is away or capped, there is no owner: the caller uses the fallback."""
    owner, _ = assign(POOL, empty_state(), available=set(), today=TODAY)
    assert owner is None


def test_a_pool_needs_members_with_positive_weights():
    """An empty pool or a zero weight is a config error."""
    with pytest.raises(ValueError, match="no members"):
        Pool("x", ())
    with pytest.raises(ValueError, match="whole numbers of 1 or more"):
        Pool("x", (Member("a", 0),))
