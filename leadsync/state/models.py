"""The state database's tables.

Dedupe keys live in indexed columns, never in a growing JSON blob: the
per-row content hashes of each source, the identities that point at a lead,
the outbox's idempotency keys. Times are stored as UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and gives them back aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state db; use UTC-aware times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """The processor, remembering its last answer: a run stamps thousands of rows with
        the one clock's time, and SQLite's processor formats each anew (a tenth of a first
        sync's state-db time). The pair is replaced whole, so threads never mix two."""
        process = super().bind_processor(dialect)
        if process is None:
            return None
        last: tuple[Any, Any] = (None, None)

        def remembered(value: Any) -> Any:
            nonlocal last
            seen, answer = last
            if value is not None and value == seen:
                return answer
            answer = process(value)
            last = (value, answer)
            return answer

        return remembered


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


def table(model: type[Base]) -> Table:
    """A model's table: for the bulk statements that take plain rows, without the ORM's
    unit of work (a first sync writes a million)."""
    return cast(Table, model.__table__)


class Lead(Base):
    """One person. `key` is leadsync's stable id, written to the CRM's external-id field."""

    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A client-made unique key: it lets the ORM insert a page of leads in one statement
    # and still match the ids SQLite returns to the rows it sent (an "insert sentinel").
    # Unique by a named index (``firstload.LOOKUP_INDEXES``), not a constraint: a first
    # load builds it after the rows.
    key: Mapped[str] = mapped_column(String(36), insert_sentinel=True)
    # The email lives here alone (identity lookups use the column), the other canonical
    # fields in ``profile``; ``values`` gives them together.
    email: Mapped[str | None] = mapped_column(String(320))
    profile: Mapped[dict] = mapped_column(JSON)
    # field -> ISO time of the source record that set it; newer non-empty values win.
    # Stored compact: the time most fields share under "*" (sync/resolve.py).
    profile_times: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the row last changed (bookkeeping, the wall clock): any UPDATE stamps it, so
    # that `leadsync export` finds the leads whose score, stage or owner moved too.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, onupdate=utcnow)
    # The last decision: score parts and the current lifecycle stage (history in stage_history).
    score_fit: Mapped[float | None] = mapped_column(Float)
    score_behaviour: Mapped[float | None] = mapped_column(Float)
    stage: Mapped[str | None] = mapped_column(String(20), index=True)
    # Who owns the lead, and the routing that chose them (rule, reasons, time; or NULL).
    owner: Mapped[str | None] = mapped_column(String(64))
    route: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    # A recycled lead does not re-qualify before this day (the date sales chose).
    revisit_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ux_leads_key", "key", unique=True),
        Index("ix_leads_email", "email"),
    )

    @classmethod
    def new(cls, key: str, email: str | None, now: datetime, owner: str | None = None) -> Lead:
        """A lead known by nothing yet but its key and email: its profile fills later."""
        return cls(**cls.blank(key, email, now, owner))

    @staticmethod
    def blank(key: str, email: str | None, now: datetime, owner: str | None) -> dict[str, Any]:
        """Every column of a new lead but its id."""
        undecided = ("score_fit", "score_behaviour", "stage", "route", "revisit_on")
        return dict.fromkeys(undecided) | {
            "key": key,
            "email": email,
            "profile": {},
            "profile_times": {},
            "created_at": now,
            "updated_at": now,
            "owner": owner,
        }

    @property
    def values(self) -> dict[str, Any]:
        """The lead's canonical profile: its email and the other fields (a new dict: read
        several times a lead and run, so copied, not filtered key by key)."""
        fields = dict(self.profile)
        fields.pop("email", None)  # the column holds it (``keep``)
        if self.email:
            fields["email"] = self.email
        return fields

    def keep(self, values: dict[str, Any]) -> None:
        """Store a merged profile: its email in the column, the rest in ``profile``."""
        self.email = values.get("email") or self.email
        self.profile = {k: v for k, v in values.items() if k != "email"}


class Event(Base):
    """Something a lead did (a form submission, a visit), stored once under a stable key."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    source: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attributes: Mapped[dict] = mapped_column(JSON)


class StageHistory(Base):
    """A lead entering a lifecycle stage: when, and why."""

    __tablename__ = "stage_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(36))


class SourceRecord(Base):
    """A source's record of a lead: the lead it is (its identity in that source) and the
    last version committed, by content hash (32 hex characters since 0012, in a column of
    64). ``external_id`` is the source's id, or ``email:<address>`` for one with none."""

    __tablename__ = "source_records"
    # The rows' own order (SQLite's rowid): unique by (source, external_id) through a
    # named index (``firstload.LOOKUP_INDEXES``), which a first load builds after them.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    external_id: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"), index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # On PostgreSQL the index carries what a lookup reads: an index-only scan (0010).
    __table_args__ = (
        Index(
            "ux_source_records",
            "source",
            "external_id",
            unique=True,
            postgresql_include=["content_hash", "lead_id", "id"],
        ),
    )


class Quarantine(Base):
    """A source record that could not be mapped, kept whole with the reason."""

    __tablename__ = "quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(36), index=True)
    source: Mapped[str] = mapped_column(String(100))
    record_ref: Mapped[str] = mapped_column(String(255))
    field: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Cursor(Base):
    """A value kept by name: where a source's reading stands (by the source's name), and
    marks of other jobs under a prefix (``owners:``, ``export:``, ``quarantine:retry``)."""

    __tablename__ = "cursors"
    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CrmRecord(Base):
    """What leadsync last wrote to the CRM for a lead: the planner diffs against it."""

    __tablename__ = "crm_records"
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), primary_key=True)
    destination: Mapped[str] = mapped_column(String(100), primary_key=True)
    crm_id: Mapped[str | None] = mapped_column(String(64))
    fields: Mapped[dict] = mapped_column(JSON)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What sales last set there, as read back (status, owner, conversion): a stage moves
    # when sales changes the status, not each time the record is read.
    seen: Mapped[dict | None] = mapped_column(JSON)
    # A record the CRM had for the person before leadsync (taken over, not created): its
    # tasks are checked against open ones another state db may have left there.
    adopted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class OutboxOp(Base):
    """One effect to make in a destination, keyed by what it means."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    destination: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    # pending -> done | dead | superseded
    status: Mapped[str] = mapped_column(String(12))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    run_id: Mapped[str | None] = mapped_column(String(36))
    # Part of a hand-off to sales (a lead qualified or routed, its task): written first
    # when the CRM's daily API quota runs low, while bulk updates wait.
    handoff: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("ix_outbox_drain", "destination", "status", "kind", "attempts", "id"),)


class DeadLetter(Base):
    """An op the destination refused for good, with its code and message for the admin."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    op_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), unique=True)
    destination: Mapped[str] = mapped_column(String(100))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    code: Mapped[str] = mapped_column(String(100), index=True)
    message: Mapped[str] = mapped_column(Text)
    fields: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SyncRun(Base):
    """One run of a job: running until closed with its status and its summary's counts."""

    __tablename__ = "sync_runs"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12))
    dry_run: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[dict] = mapped_column(JSON)


class SlaTimer(Base):
    """A follow-up SLA: a lead handed to a rep, due for its first touch by ``due_at``.

    open -> met (touched: a completed task, a status sales moved on) | recycled (nobody
    touched it after the last reassignment). Each breach reassigns it and starts again;
    ``steps`` records what happened and why, for `leadsync explain`."""

    __tablename__ = "sla_timers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    owner: Mapped[str | None] = mapped_column(String(64))
    task_key: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12))
    reassignments: Mapped[int] = mapped_column(Integer, default=0)
    touched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    steps: Mapped[list] = mapped_column(JSON)

    __table_args__ = (Index("ix_sla_timers_open_due", "status", "due_at"),)


class ScheduledJob(Base):
    """One job of `leadsync run` (a source's sync, the feedback read, a sweep): its last
    run and its next, for `leadsync status` and the alerts."""

    __tablename__ = "jobs"
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(120))
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ok | partial | failed | stopped (as the run's status), or running
    last_result: Mapped[str | None] = mapped_column(String(12))
    last_duration_s: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures_in_row: Mapped[int] = mapped_column(Integer, default=0)


class InboxSubmission(Base):
    """A form submission the listener accepted, committed before it answered 2xx: the
    webhook source reads these as its records. ``key`` is the vendor's submission id, else
    the body's hash, so a submission sent twice is stored once."""

    __tablename__ = "inbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    source: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fields: Mapped[dict] = mapped_column(JSON)
    # the body as sent, for the admin and for a field map written later
    body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100))

    __table_args__ = (Index("ux_inbox_source_key", "source", "key", unique=True),)


__all__ = [
    "Base",
    "CrmRecord",
    "Cursor",
    "DeadLetter",
    "Event",
    "InboxSubmission",
    "Lead",
    "OutboxOp",
    "Quarantine",
    "ScheduledJob",
    "SlaTimer",
    "SourceRecord",
    "StageHistory",
    "SyncRun",
    "table",
    "utcnow",
]
