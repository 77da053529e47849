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
        self.runs = self._counter("leadsync_job_runs", "Job runs by result", "job", "result")
        self.last_success = self._gauge(
            "leadsync_job_last_success_timestamp_seconds",
            "When each job last ended without failing (unix time)",
            "job",
        )
        self.duration = self._gauge(
            "leadsync_job_duration_seconds", "How long each job's last run took", "job"
        )
        self.leads_read = self._counter("leadsync_leads_read", "Source records read", "job")
        self.written = self._counter(
            "leadsync_records_written",
            "CRM records written, by what happened to them",
            "crm",
            "outcome",
        )
        self.tasks = self._counter("leadsync_tasks_created", "Follow-up tasks created", "crm")
        self.api_calls = self._counter("leadsync_api_calls", "Requests sent to the CRM", "crm")
        self.rate_limited = self._counter(
            "leadsync_api_rate_limited",
            "Requests the CRM answered with a rate limit (HTTP 429, a request limit)",
            "crm",
        )
        self.backlog = self._gauge("leadsync_outbox_backlog", "Ops waiting in the outbox", "crm")
        self.dead = self._gauge("leadsync_dead_letters", "Ops the CRM refused for good", "crm")
        self.quota = self._gauge(
            "leadsync_api_quota_used_ratio",
            "The share of the CRM's daily API requests used, as it last said",
            "crm",
        )
        self.forms = self._counter(
            "leadsync_forms_received",
            "Form submissions by what the inbox did with them",
            "source",
            "result",
        )
        self.sla = self._counter(
            "leadsync_sla_breaches", "Follow-up SLAs found past due, by what the ladder did", "step"
        )
        self.latency = Histogram(
            "leadsync_form_to_crm_seconds",
            "From a form submission's arrival to its lead and task written in the CRM",
            ["source"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def _counter(self, name: str, documentation: str, *labels: str) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def _gauge(self, name: str, documentation: str, *labels: str) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

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
