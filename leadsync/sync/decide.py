"""The decide step of a sync: score, stages, owner, and the hand-off they call for.

For the leads a page touched: score them, move them through the lifecycle, route
the ones entering MQL, and queue the follow-up task and nurture changes in the
outbox, all in the page's transaction, so that a stage entry and the ops it asks
for are written together or not at all. The rules themselves are pure
(``leadsync.rules``); this module reads and writes what they need around them.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from leadsync import log
from leadsync.errors import LeadsyncError
from leadsync.mapping.lead import iso_utc
from leadsync.rules.decide import Decision, decide
from leadsync.rules.handoff import follow_up, is_history, nurture_ops
from leadsync.rules.lifecycle import StageEntry
from leadsync.rules.routing import Route
from leadsync.state import outbox, repo, sla
from leadsync.state.firstload import INDEXED, Lookups
from leadsync.state.models import Lead
from leadsync.sync.summary import RunSummary
from leadsync.sync.wiring import Wiring

logger = log.get("leadsync.sync.decide")


class Decider:
    def __init__(
        self, wiring: Wiring, summary: RunSummary, now: datetime, *, no_handoff: bool = False
    ) -> None:
        self.wiring = wiring
        self.summary = summary
        self.now = now
        self.no_handoff = no_handoff
        self._active: frozenset[str] | None = None
        self._asked = False
        self._owners: dict[str, str] | None = None  # the current page's, once asked

    def existing_owner(self, lead: Lead, page: dict[int, Lead]) -> str | None:
        """Who owns this person in the CRM already. The first lead of a page that is routed
        asks for every lead of the page at once; a page that routes nobody asks nothing."""
        if not lead.email:
            return None
        if self._owners is None:
            people = {ld.email: ld.key for ld in page.values() if ld.email}
            try:
                self._owners = self.wiring.destination.existing_owners(people)
            except LeadsyncError as exc:
                logger.warning("routing.existing_owner.unknown", error=str(exc))
                self._owners = {}
        return self._owners.get(lead.email)

    def active_owners(self) -> frozenset[str] | None:
        """Asked of the CRM once per run, and only when a lead is routed."""
        if not self._asked:
            self._asked = True
            try:
                self._active = self.wiring.active_owners()
            except LeadsyncError as exc:
                # Routing goes on; the CRM itself refuses an inactive owner at push time.
                logger.warning("routing.owners.unknown", error=str(exc))
        return self._active

    def decide(
        self,
        session: Session,
        touched: dict[int, Lead],
        sales: dict[int, list[StageEntry]] | None = None,
        lookups: Lookups = INDEXED,
    ) -> dict[int, Decision]:
        """Score each lead, move it through the stages, and record what changed and why.

        ``sales`` holds the stage entries sales made in the CRM (read back this run): they
        are recorded like leadsync's own, and ask for the same hand-off (a recycled lead
        rejoins nurture)."""
        rules = self.wiring.rules
        if not rules.any:
            return {}
        events = repo.events_of_leads(session, touched)
        history = repo.stage_history(session, touched)
        self._owners = None  # a new page: its people's CRM owners are asked afresh
        decisions: dict[int, Decision] = {}
        entries: list[dict[str, Any]] = []
        related: list[dict[str, Any]] = []  # tasks and nurture changes, keyed by their entry
        nurtured = (
            lookups.nurtured_leads(session, touched) if self.wiring.nurture is not None else set()
        )
        pools = self._pool_states(session)
        for lead_id, lead in touched.items():
            past = [StageEntry(h.stage, h.at, h.reason) for h in history.get(lead_id, [])]
            by_sales = (sales or {}).get(lead_id, [])
            lead_events = [repo.event_values(e) for e in events.get(lead_id, [])]
            decision = decide(
                rules,
                lead.values,
                lead_events,
                [*past, *by_sales],
                self.now,
                owner=lead.owner,
                pool_states=pools,
                active_owners=self.active_owners,
                existing_owner=partial(self.existing_owner, lead, touched),
                revisit_on=lead.revisit_on,
            )
            if decision.route is not None:
                self._assign(session, lead, decision.route, pools)
            lead.score_fit, lead.score_behaviour = decision.score.fit, decision.score.behaviour
            made = [*by_sales, *decision.entries]
            if any(e.stage == "mql" for e in decision.entries):
                lead.revisit_on = None  # back in the funnel: the recycle date is spent
            for entry in made:
                lead.stage = entry.stage
                entries.append(
                    {
                        "lead_id": lead_id,
                        "stage": entry.stage,
                        "at": entry.at,
                        "reason": entry.reason,
                        "run_id": self.summary.run_id,
                    }
                )
                if entry.stage == "mql":
                    self.summary.mql += 1
                    if self._withheld(lead, lead_events):
                        continue
                    if self.wiring.tasks is not None:
                        task = follow_up(
                            self.wiring.tasks,
                            lead.values,
                            decision,
                            lead_events,
                            entry,
                            self._task_owner(lead),
                            lead.key,
                        )
                        related.append(self._related_op(lead_id, "task", task))
            if self.wiring.nurture is not None:
                context = {"lead": lead.values, "events": lead_events, "now": self.now}
                for change in nurture_ops(
                    self.wiring.nurture, made, context, lead.key, lead_id in nurtured
                ):
                    related.append(self._related_op(lead_id, "nurture", change))
            decisions[lead_id] = decision
        repo.add_stage_entries(session, entries)
        # Written with the stage entry that asks for them: one entry, one task, ever.
        for op in lookups.enqueue(session, related):
            if op["kind"] == "task":
                self.summary.task_planned(op["payload"].get("owner"))
                self._start_sla(session, touched[op["lead_id"]], op["payload"])
            elif op["payload"].get("action") == "join":
                self.summary.nurture_planned += 1
        return decisions

    def _start_sla(self, session: Session, lead: Lead, task: dict[str, Any]) -> None:
        """The rep's clock for the first touch starts with the task handed to them."""
        policy = self.wiring.sla
        if policy is None:
            return
        owner, pool = task.get("owner"), (lead.route or {}).get("pool")
        due = policy.due(self.now, owner, pool)
        sla.open_timer(session, lead.id, owner, task["key"], self.now, due)

    def _withheld(self, lead: Lead, events: list[dict[str, Any]]) -> bool:
        """No follow-up task for this MQL: the run brings history in (--no-handoff), or the
        lead's latest activity is older than [tasks] max_age_days."""
        spec = self.wiring.tasks
        if spec is None:
            return False
        if self.no_handoff or is_history(spec, lead.values, events, self.now):
            self.summary.tasks_withheld += 1
            return True
        return False

    def _related_op(self, lead_id: int, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        return outbox.new_op(
            payload["key"],
            self.wiring.destination.name,
            kind,
            lead_id,
            payload,
            self.summary.run_id,
            handoff=kind == "task",
        )

    def _pool_states(self, session: Session) -> dict[str, dict[str, Any]]:
        routing = self.wiring.rules.routing
        if routing is None:
            return {}
        return {name: repo.cursor(session, f"routing:{name}") or {} for name in routing.pools}

    def _task_owner(self, lead: Lead) -> str | None:
        """The lead's owner, unless the CRM cannot give it a task (a queue): then the
        fallback owner, with a warning naming the rule that chose the queue."""
        owner = lead.owner
        destination = self.wiring.destination
        if not owner or destination.can_own_tasks(owner):
            return owner
        routing = self.wiring.rules.routing
        fallback = routing.fallback_owner if routing is not None else None
        if fallback is not None and not destination.can_own_tasks(fallback):
            fallback = None  # the CRM assigns the task to the integration's own user
        logger.warning(
            "routing.task_owner.queue",
            lead=lead.key,
            queue=owner,
            rule=(lead.route or {}).get("reason"),
            task_owner=fallback,
        )
        return fallback

    def _assign(
        self, session: Session, lead: Lead, routed: Route, pools: dict[str, dict[str, Any]]
    ) -> None:
        """The lead's new owner, and the pool's turn, stored in the page's transaction."""
        if routed.inactive:
            logger.warning("routing.owner.inactive", owner=routed.inactive, reason=routed.reason)
        lead.owner = routed.owner
        lead.route = {
            "owner": routed.owner,
            "reason": routed.reason,
            "skipped": list(routed.skipped),
            "pool": routed.pool,
            "at": iso_utc(self.now),
        }
        self.summary.owners_assigned += 1
        if routed.pool and routed.pool_state is not None:
            pools[routed.pool] = routed.pool_state
            # Kept with the checkpoints: a restart goes on with the next turn.
            repo.save_cursor(session, f"routing:{routed.pool}", routed.pool_state)
