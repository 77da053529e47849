"""What the CRM's daily API quota allows a push: everything, hand-offs only, or nothing.

Salesforce and HubSpot count requests per day across every integration of the org;
each answer says how many are used (the connectors note it in ``Destination.quota``).
leadsync leaves ``api_reserve_share`` of the day to the others and, in the
``handoff_share`` slice above it, writes only hand-offs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from leadsync import log
from leadsync.connectors.base import Destination
from leadsync.connectors.calls import ApiQuota
from leadsync.settings import SyncSection
from leadsync.state import outbox
from leadsync.sync.summary import RunSummary

logger = log.get("leadsync.sync.quota")


def quota_mode(quota: ApiQuota, policy: SyncSection) -> str | None:
    """None while the quota is fine (or unknown); "handoffs" in the last slice above the
    share kept for other integrations; "stopped" at that share."""
    if quota.used is None or quota.limit is None or not quota.limit:
        return None
    remaining = quota.limit - quota.used
    floor = policy.api_reserve_share * quota.limit
    if remaining <= floor:
        return "stopped"
    if remaining <= floor + policy.handoff_share * quota.limit:
        return "handoffs"
    return None


# How much each mode holds back, to tell a quota that got lower from one that did not.
_STRICTNESS = {None: 0, "handoffs": 1, "stopped": 2}


class QuotaFellLow(Exception):
    """A bulk job found the quota lower than when its batch was chosen: the job is
    aborted before its upload, its ops stay pending, and the batch is chosen again."""


@dataclass
class QuotaGate:
    """The quota check of a bulk job, between its create and its upload. A backfill does
    not spend a request on ``/limits``: the create's answer tells the quota (Salesforce
    sends ``Sforce-Limit-Info`` with every REST answer), and only a CRM that says nothing
    is asked. Passed once, it lets the rest of the batch's jobs through."""

    destination: Destination
    policy: SyncSection
    chosen_under: str | None
    passed: bool = False

    def __call__(self) -> None:
        if self.passed:
            return
        if not self.destination.quota.known:
            self.destination.refresh_quota()
        now = quota_mode(self.destination.quota, self.policy)
        if _STRICTNESS[now] > _STRICTNESS[self.chosen_under]:
            raise QuotaFellLow(now)
        self.passed = True


def hold(
    factory: sessionmaker[Session],
    destination: Destination,
    policy: SyncSection,
    stats: RunSummary,
    mode: str,
) -> None:
    """Say why ops stay in the outbox: the quota, what it stands at, what waits."""
    quota = destination.quota
    with factory() as session:
        held = (
            outbox.count_pending(session, destination.name)
            if mode == "stopped"
            else outbox.count_held(session, destination.name)
        )
    if not held:
        return
    what = "nothing more is written" if mode == "stopped" else "only hand-offs are written"
    stats.quota = (
        f"the CRM's daily API quota is low: {quota.used:,} of {quota.limit:,} requests used, "
        f"and {policy.api_reserve_share:.0%} is kept for other integrations, so {what}; "
        f"{held:,} {'ops' if mode == 'stopped' else 'bulk updates'} wait in the outbox for "
        "the quota to reset"
    )
    logger.warning("sync.quota.low", used=quota.used, limit=quota.limit, mode=mode, held=held)
