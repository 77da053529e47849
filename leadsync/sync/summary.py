"""What one run did, as counts: the `--json` object, the table and the run's log line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from leadsync.errors import LeadsyncError

EXIT_OK, EXIT_FAILED, EXIT_PARTIAL = 0, 1, 2
EXIT_STOPPED = 130  # as a shell reports a process stopped by a signal
MAX_PROBLEMS = 20


@dataclass
class RunSummary:
    run_id: str
    dry_run: bool = False
    read: int = 0
    quarantined: int = 0
    # values set aside while their record went on (an unreadable optional phone, a time in
    # the future): each named in `problems`
    warnings: int = 0
    unchanged: int = 0
    created: int = 0
    # Records the CRM already had for the person (by email, or its duplicate rule): taken
    # over with leadsync's key rather than created again.
    adopted: int = 0
    updated: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0  # of the retries, those the CRM asked for (HTTP 429, a limit)
    api_calls: int = 0
    # the leads went through the CRM's bulk API (a backfill above its threshold)
    bulk: bool = False
    # records the source merged into another (the winner keeps the history) or deleted
    merged: int = 0
    deleted: int = 0
    planned_creates: int = 0
    planned_updates: int = 0
    replanned: int = 0
    mql: int = 0
    owners_assigned: int = 0
    tasks_planned: int = 0
    # MQLs that got no task: brought in as history (--no-handoff, [tasks] max_age_days)
    tasks_withheld: int = 0
    nurture_planned: int = 0  # joins planned this run (a dry run's "would join nurture")
    # owner -> tasks planned this run: a dry run says who would get how many
    tasks_by_owner: dict[str, int] = field(default_factory=dict)
    tasks_created: int = 0
    nurture_added: int = 0
    nurture_left: int = 0
    # what sales did in the CRM, read back this run
    sales_stage_changes: int = 0
    sales_owner_changes: int = 0
    tasks_completed: int = 0
    # follow-up SLAs past due this run, and what the ladder did ([sla])
    sla_breaches: int = 0
    sla_reassigned: int = 0
    sla_recycled: int = 0
    rescored: int = 0  # leads whose decayed score was written again (the re-score job)
    # why ops were held back, when the CRM's daily API quota ran low
    quota: str | None = None
    pending: int = 0
    duration_s: float = 0.0
    error: str | None = None
    error_kind: str | None = None  # the error's class: AuthenticationError, RateLimited...
    stopped: str | None = None  # the signal that stopped the run
    changes: list[dict[str, Any]] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.stopped:
            return "stopped"
        if self.error:
            return "failed"
        # Ops held back by the daily API quota are written by a later run: not all done.
        held = bool(self.quota and self.pending)
        return "partial" if self.quarantined or self.failed or held else "ok"

    @property
    def exit_code(self) -> int:
        return {
            "ok": EXIT_OK,
            "failed": EXIT_FAILED,
            "partial": EXIT_PARTIAL,
            "stopped": EXIT_STOPPED,
        }[self.status]

    def task_planned(self, owner: str | None) -> None:
        self.tasks_planned += 1
        who = owner or "(the CRM's default: the integration user)"
        self.tasks_by_owner[who] = self.tasks_by_owner.get(who, 0) + 1

    def fail(self, exc: LeadsyncError) -> None:
        self.error = str(exc)
        self.error_kind = type(exc).__name__

    def planned(
        self, creating: bool, diff: dict[str, tuple[Any, Any]], lead_key: str, keep: int
    ) -> None:
        if creating:
            self.planned_creates += 1
        else:
            self.planned_updates += 1
        if len(self.changes) < keep:
            self.changes.append(
                {
                    "lead": lead_key,
                    "action": "create" if creating else "update",
                    "fields": {f: {"before": b, "after": a} for f, (b, a) in diff.items()},
                }
            )

    def note_problem(self, source: str, ref: str, field: str | None, reason: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(
                {"source": source, "record": ref, "field": field, "reason": reason}
            )

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status
        return out

    def log_fields(self) -> dict[str, Any]:
        skip = {"changes", "problems", "run_id"}
        return {k: v for k, v in self.as_dict().items() if k not in skip}
