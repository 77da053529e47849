"""The Prometheus instruments of `leadsync run`, on a registry of their own.

Counters grow with each job's summary; the outbox backlog, the dead letters and the
quota are read when Prometheus scrapes, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from leadsync.sync.summary import RunSummary

# form to CRM: the seconds a visitor waits on the thank-you page, and more
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300, 900)


class Metrics:
    def __init__(self, crm: str) -> None:
        self.crm = crm
        disable_created_metrics()  # a `_created` twin of every counter is noise here
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "leadsync_job_runs", "Job runs by result", ["job", "result"], registry=r
        )
        self.last_success = Gauge(
            "leadsync_job_last_success_timestamp_seconds",
            "When each job last ended without failing (unix time)",
            ["job"],
            registry=r,
        )
        self.duration = Gauge(
            "leadsync_job_duration_seconds",
            "How long each job's last run took",
            ["job"],
            registry=r,
        )
        self.leads_read = Counter("leadsync_leads_read", "Source records read", ["job"], registry=r)
        self.written = Counter(
            "leadsync_records_written",
            "CRM records written, by what happened to them",
            ["crm", "outcome"],
            registry=r,
        )
        self.tasks = Counter(
            "leadsync_tasks_created", "Follow-up tasks created", ["crm"], registry=r
        )
        self.api_calls = Counter(
            "leadsync_api_calls", "Requests sent to the CRM", ["crm"], registry=r
        )
        self.rate_limited = Counter(
            "leadsync_api_rate_limited",
            "Requests the CRM answered with a rate limit (HTTP 429, a request limit)",
            ["crm"],
            registry=r,
        )
        self.backlog = Gauge(
            "leadsync_outbox_backlog", "Ops waiting in the outbox", ["crm"], registry=r
        )
        self.dead = Gauge(
            "leadsync_dead_letters", "Ops the CRM refused for good", ["crm"], registry=r
        )
        self.quota = Gauge(
            "leadsync_api_quota_used_ratio",
            "The share of the CRM's daily API requests used, as it last said",
            ["crm"],
            registry=r,
        )
        self.forms = Counter(
            "leadsync_forms_received",
            "Form submissions by what the inbox did with them",
            ["source", "result"],
            registry=r,
        )
        self.sla = Counter(
            "leadsync_sla_breaches",
            "Follow-up SLAs found past due, by what the ladder did",
            ["step"],
            registry=r,
        )
        self.latency = Histogram(
            "leadsync_form_to_crm_seconds",
            "From a form submission's arrival to its lead and task written in the CRM",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def read_on_scrape(
        self,
        backlog: Callable[[], float],
        dead: Callable[[], float],
        quota: Callable[[], float],
    ) -> None:
        self.backlog.labels(self.crm).set_function(backlog)
        self.dead.labels(self.crm).set_function(dead)
        self.quota.labels(self.crm).set_function(quota)

    def job_ran(self, job: str, result: str, summary: RunSummary | None, at: float) -> None:
        self.runs.labels(job, result).inc()
        if result != "failed":
            self.last_success.labels(job).set(at)
        if summary is None:
            return
        self.duration.labels(job).set(summary.duration_s)
        self.leads_read.labels(job).inc(summary.read)
        for outcome in ("created", "updated", "adopted", "failed"):
            self.written.labels(self.crm, outcome).inc(getattr(summary, outcome))
        self.tasks.labels(self.crm).inc(summary.tasks_created)
        self.api_calls.labels(self.crm).inc(summary.api_calls)
        self.rate_limited.labels(self.crm).inc(summary.rate_limited)
        self.sla.labels("reassigned").inc(summary.sla_reassigned)
        self.sla.labels("recycled").inc(summary.sla_recycled)
        self.sla.labels("escalated").inc(
            summary.sla_breaches - summary.sla_reassigned - summary.sla_recycled
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)
