"""What each section of the TOML config may hold: one typed model per section.

``config`` reads the file, fills in the environment and validates it against
``Settings``; the rest of leadsync reads the validated sections from here.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_STATE_URL = "sqlite:///state.db"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StateSection(Section):
    url: str = DEFAULT_STATE_URL


CustomType = Literal["str", "int", "float", "bool", "date", "datetime", "email"]


class LeadSection(Section):
    custom_fields: dict[str, CustomType] = Field(default_factory=dict)


class FieldRule(Section):
    """One mapped field: where its value comes from and how it is transformed."""

    source: str | list[str] = Field(alias="from")
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    required: bool = False
    # A value that cannot be read: a required field quarantines the record; an optional
    # one is left empty with a warning (the lead still goes on), unless "quarantine". A
    # yes/no field (consent) always quarantines: consent is never guessed.
    invalid: Literal["empty", "quarantine"] = "empty"


class CrmFieldRule(FieldRule):
    direction: Literal["leadsync", "fill_if_empty", "crm"] = "leadsync"


class EventSection(Section):
    """Each record of the source is also an event (a form submission, an activity)."""

    type: str | None = None  # the same type for every record, e.g. "form_submit"
    type_from: str | None = None  # or the column that names it, e.g. "Last Activity"
    at: str | None = None  # the column with the event's time
    attributes: dict[str, str] = Field(default_factory=dict)  # attribute -> column

    @model_validator(mode="after")
    def _one_type(self) -> EventSection:
        if (self.type is None) == (self.type_from is None):
            raise ValueError("give `type` (a fixed event type) or `type_from` (a column)")
        return self


class SourceSection(BaseModel):
    """`type`, `fields` and `event` are ours; other keys belong to the connector's own model."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: str
    fields: dict[str, FieldRule | str] = Field(default_factory=dict)
    event: EventSection | None = None
    # How often `leadsync run` syncs it: "5m", "1h", "30s", or a cron line ("*/10 * * * *")
    schedule: str | None = None

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class CrmSection(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: str
    fields: dict[str, CrmFieldRule | str] = Field(default_factory=dict)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ScoringRuleSection(Section):
    name: str
    category: Literal["fit", "behaviour"]
    when: str
    points: float
    cap: float | None = Field(None, gt=0)


class ScoringSection(Section):
    half_life_days: float = Field(30.0, gt=0)
    # The re-score job of `leadsync run` writes a lead's decayed score to the CRM only when
    # it moved by at least this much since last written: never stale, never churning.
    rescore_min_change: float = Field(5.0, ge=0)
    fit_cap: float | None = Field(None, gt=0)
    behaviour_cap: float | None = Field(None, gt=0)
    rules: list[ScoringRuleSection] = Field(default_factory=list)


class MqlSection(Section):
    total: float | None = None
    fit: float | None = None
    behaviour: float | None = None

    @model_validator(mode="after")
    def _some_threshold(self) -> MqlSection:
        if self.total is None and (self.fit is None or self.behaviour is None):
            raise ValueError("give `total`, or both `fit` and `behaviour`")
        return self


class LifecycleSection(Section):
    lead_when: str | None = None
    disqualify_when: str | None = None
    mql: MqlSection


class PoolMemberSection(Section):
    owner: str
    weight: int = Field(1, ge=1)
    daily_cap: int | None = Field(None, ge=1)


class PoolSection(Section):
    members: list[PoolMemberSection] = Field(min_length=1)


class TerritorySection(Section):
    by: Literal["country", "state", "postal_code"]
    owners: dict[str, str]


class RouteRuleSection(Section):
    name: str
    when: str
    owner: str | None = None
    territory: str | None = None
    pool: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> RouteRuleSection:
        if sum(t is not None for t in (self.owner, self.territory, self.pool)) != 1:
            raise ValueError("give exactly one of `owner`, `territory` or `pool`")
        return self


class RoutingSection(Section):
    fallback_owner: str
    away: list[str] = Field(default_factory=list)  # out of office: pools skip them
    # A person the CRM already gives an owner (a contact, a lead made elsewhere) keeps them.
    keep_existing_owner: bool = True
    rules: list[RouteRuleSection] = Field(default_factory=list)
    pools: dict[str, PoolSection] = Field(default_factory=dict)
    territories: dict[str, TerritorySection] = Field(default_factory=dict)


class TasksSection(Section):
    """The follow-up task a rep gets when a lead enters MQL."""

    subject: str = "Follow up: $first_name $last_name ($company) is sales-ready"
    due_in_hours: float = Field(24.0, gt=0)
    high_priority_score: float | None = None
    # A lead entering MQL whose latest activity is older than this gets no task (a first
    # load of history must not flood the reps); None: every MQL gets one.
    max_age_days: float | None = Field(None, gt=0)
    # The task's description: a template over the lead's fields and the insight's parts
    # ($why, $score_line, $what_counts, $moments, $latest_activity, $came_from); None: all of them.
    description: str | None = None


NurtureStage = Literal["inquiry", "lead", "recycled"]


class NurtureSection(Section):
    """Leads not ready for sales, who may be emailed, join a nurture campaign; MQLs leave it."""

    campaign_id: str
    when: str = "not email_opt_out"
    stages: list[NurtureStage] = Field(default_factory=lambda: list[NurtureStage](["lead"]))
    status: str = "Sent"
    left_status: str = "Responded"


class FeedbackSection(Section):
    """What sales does in the CRM, read back: CRM lead status values and what they mean."""

    status_field: str  # the CRM field sales set: Status (Salesforce), hs_lead_status (HubSpot)
    accepted: list[str] = Field(default_factory=list)  # -> SAL
    qualified: list[str] = Field(default_factory=list)  # -> SQL
    rejected: list[str] = Field(default_factory=list)  # -> recycled, with the reason
    recycled: list[str] = Field(default_factory=list)  # -> recycled
    reason_field: str | None = None  # the CRM field with why sales rejected it
    recycle_date_field: str | None = None  # the CRM date field: when it may come back
    recycle_days: int = Field(90, ge=0)  # when sales gives no date
    schedule: str | None = None  # how often `leadsync run` reads it back ("5m", cron)

    @model_validator(mode="after")
    def _each_status_once(self) -> FeedbackSection:
        seen: dict[str, str] = {}
        for meaning in ("accepted", "qualified", "rejected", "recycled"):
            for status in getattr(self, meaning):
                if status in seen:
                    raise ValueError(
                        f"status {status!r} is in both {seen[status]} and {meaning}: "
                        "give each CRM status one meaning"
                    )
                seen[status] = meaning
        return self


class SyncSection(Section):
    # The share of the CRM's daily API requests leadsync leaves to other integrations,
    # and the slice above it spent on hand-offs only (bulk updates wait for the reset).
    api_reserve_share: float = Field(0.2, ge=0, lt=1)
    handoff_share: float = Field(0.05, ge=0, lt=1)
    # Source records per transaction. Each commit writes every index page its page
    # touched, and lead keys and source ids land at random in their indexes: 5,000 a
    # commit writes 2.2x less to the state db than 1,000 did (bench/scale.py).
    chunk_size: int = Field(5000, ge=1, le=100_000)
    max_attempts: int = Field(6, ge=1, le=50)
    backoff_initial_seconds: float = Field(0.5, ge=0)
    backoff_max_seconds: float = Field(30.0, ge=0)
    push_deadline_seconds: float = Field(900.0, gt=0)


class SlaTermsSection(Section):
    """An owner's or a pool's own terms; what is left out is the [sla] default."""

    first_touch: str | None = None
    business_hours: str | None = None
    timezone: str | None = None


class SlaSection(Section):
    """How long a rep has for the first touch of a lead handed to them, and the ladder of
    what happens when nobody touches it: reassign, then recycle."""

    first_touch: str = "4h"
    business_hours: str = "Mon-Fri 09:00-18:00"
    timezone: str = "UTC"
    max_reassignments: int = Field(1, ge=0, le=10)
    manager: str | None = None  # a CRM user id: gets a task at each breach
    schedule: str = "5m"  # how often `leadsync run` sweeps for breaches
    owners: dict[str, SlaTermsSection] = Field(default_factory=dict)
    pools: dict[str, SlaTermsSection] = Field(default_factory=dict)


class AlertsSection(Section):
    """Where `leadsync run` says something needs a person: an incoming webhook (Slack's
    and Teams' `{"text": ...}`) and/or email; each alert once per incident."""

    webhook_url: SecretStr | None = None  # the URL is the credential: from the environment
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    email_from: str | None = None
    email_to: list[str] = Field(default_factory=list)
    failures_in_row: int = Field(2, ge=1)  # a job failing this many times in a row
    dead_letters_over: int = Field(50, ge=0)
    quota_used_over: float = Field(0.9, gt=0, le=1)  # share of the CRM's daily API quota
    # A hand-off alert, on the same channel, for leads whose task is high priority
    # ([tasks] high_priority_score).
    hot_handoffs: bool = False

    @model_validator(mode="after")
    def _a_channel(self) -> AlertsSection:
        if self.webhook_url is None and self.smtp_host is None:
            raise ValueError("give webhook_url or smtp_host (with email_from and email_to)")
        if self.smtp_host is not None and not (self.email_from and self.email_to):
            raise ValueError("email alerts need email_from and email_to")
        return self


class ServiceSection(Section):
    """`leadsync run`: the listener, the stop, and the sweeps' schedules."""

    listen: str = "127.0.0.1:8780"
    shutdown_grace_seconds: float = Field(30.0, gt=0, le=3600)
    # Form submissions arriving within this window share one pipeline run.
    form_batch_seconds: float = Field(0.2, ge=0, le=60)
    # The sweep: recycled leads whose come-back day has passed are decided again, and
    # follow-up SLAs past due move up their ladder ([sla]); this often.
    sweep_schedule: str = "5m"
    # Behaviour scores decay with time: written again to the CRM this often ([scoring]
    # rescore_min_change says by how much a score must have moved).
    rescore_schedule: str = "1h"
    # A nightly reconcile (a cron line such as "30 2 * * *", UTC; unset: none): a report
    # of what drifted in the CRM, written back only with reconcile_repair.
    reconcile_schedule: str | None = None
    reconcile_repair: bool = False
    # How long a job waits for another process's run to release the state db.
    lock_wait_seconds: float = Field(600.0, gt=0)
    # `/readyz`: the CRM must have answered within this long.
    ready_interval_seconds: float = Field(900.0, gt=0)


class TargetSection(Section):
    """How many MQLs (and SQLs) a period should bring, for all leads or one segment."""

    period: str  # a quarter (2026-Q4) or a month (2026-11)
    mql: int | None = Field(None, ge=0)
    sql: int | None = Field(None, ge=0)
    segment: str | None = None  # "source:web_forms", "campaign:spring", "owner:005..."

    @field_validator("period")
    @classmethod
    def _a_quarter_or_month(cls, period: str) -> str:
        if not re.fullmatch(r"\d{4}-(Q[1-4]|0[1-9]|1[0-2])", period):
            raise ValueError(f"{period!r}: give a quarter (2026-Q4) or a month (2026-11)")
        return period

    @field_validator("segment")
    @classmethod
    def _a_segment(cls, segment: str | None) -> str | None:
        if segment is not None and not re.fullmatch(r"(source|campaign|owner):.+", segment):
            raise ValueError(
                f"{segment!r}: give source:NAME, campaign:NAME or owner:ID (or leave it out)"
            )
        return segment

    @model_validator(mode="after")
    def _a_target(self) -> TargetSection:
        if self.mql is None and self.sql is None:
            raise ValueError(f"target {self.period}: give mql, sql or both")
        return self


class SuggestSection(Section):
    """What `leadsync suggest scoring` learns from: the fields it must not use (written
    after the fact, they would leak the outcome), and what counts as a good lead."""

    exclude: list[str] = Field(default_factory=list)  # lead fields, or "event:TYPE"
    outcome: Literal["sql", "sal"] = "sql"
    holdout: float = Field(0.3, ge=0.05, le=0.9)
    split: Literal["random", "time"] = "random"


class PlanningSection(Section):
    """The targets `leadsync report plan` measures the funnel against."""

    targets: list[TargetSection] = Field(min_length=1)


class Settings(Section):
    state: StateSection = Field(default_factory=StateSection)
    lead: LeadSection = Field(default_factory=LeadSection)
    sources: dict[str, SourceSection]
    crm: CrmSection
    scoring: ScoringSection | None = None
    lifecycle: LifecycleSection | None = None
    routing: RoutingSection | None = None
    tasks: TasksSection | None = None
    nurture: NurtureSection | None = None
    feedback: FeedbackSection | None = None
    sla: SlaSection | None = None
    alerts: AlertsSection | None = None
    planning: PlanningSection | None = None
    suggest: SuggestSection = Field(default_factory=SuggestSection)
    sync: SyncSection = Field(default_factory=SyncSection)
    service: ServiceSection = Field(default_factory=ServiceSection)
