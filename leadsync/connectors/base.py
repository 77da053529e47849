"""What every connector shares: the two interfaces and the values they exchange.

A *source* reads raw records in pages; each page carries the cursor that is
true once that page is committed, so the pipeline stores page and cursor in
one transaction and a crash never moves a checkpoint past unsaved work.

A *destination* describes its schema and upserts batches, answering with one
``RecordResult`` per record: a batch that fails in part is data, not an exception.

Connectors are found by name in ``registry``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from leadsync.config import pydantic_problems, secret_values
from leadsync.connectors.calls import ApiQuota, CallCounter
from leadsync.errors import ConfigError, ConnectorError

# Records as a CRM takes them (its field names to values), and each one's CRM record id
# where leadsync knows it, in the records' order.
Rows = Sequence[Mapping[str, Any]]
CrmIds = Sequence[str | None] | None
# Called by a bulk upsert once its job exists and before a record is sent: what it raises
# stops the job, and nothing is written.
BeforeUpload = Callable[[], None] | None


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(slots=True)
class RawRecord:
    """One record as the source sent it. ``problem`` is set when it could not even be parsed.
    Not frozen: a source makes one per row, and a frozen dataclass's constructor costs
    three times as much (a re-read export of 100,000 rows makes 100,000)."""

    ref: str
    data: Mapping[str, Any]
    external_id: str | None = None
    content_hash: str = ""
    problem: str | None = None
    problem_field: str | None = None
    # Things the person did that the source reports with the record (key, type, at,
    # attributes); the key is stable, so an event read twice is stored once.
    events: tuple[Mapping[str, Any], ...] = ()
    # Only the id and events were read: the events go to the lead this id already is; an
    # id not known yet is first made whole by the source (``Source.complete``).
    partial: bool = False


@dataclass(frozen=True)
class Page:
    records: Sequence[RawRecord]
    cursor: dict[str, Any]
    # What the source says of records it sent before: ids it deleted, and ids merged into
    # another record (loser -> winner: the winner keeps the history).
    deleted: Sequence[str] = ()
    merged: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldSpec:
    """A CRM field as `check` and the connectors judge values for it. ``type`` is the CRM's
    own name for its type (said in messages); what it means for leadsync is said by the
    connector's schema in neutral terms: ``accepts`` (the lead field types a value may
    come from), ``text`` (a length applies), ``required`` (a create without it fails)."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    external_id: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    restricted_picklist: bool = False
    accepts: frozenset[str] = frozenset()
    text: bool = False
    required: bool = False


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    fields: Mapping[str, FieldSpec]
    system: str = "the CRM"  # who holds it, as messages name it


# Slotted, not frozen: a Bulk API job answers 10,000 of them, and a frozen dataclass sets
# each field through object.__setattr__ (1.2 us a result against 0.3).
@dataclass(slots=True)
class RecordResult:
    ok: bool
    crm_id: str | None = None
    created: bool = False
    code: str | None = None
    message: str | None = None
    fields: tuple[str, ...] = ()
    # True when the same record may succeed if sent again (a row lock, say).
    retriable: bool = False
    # The records a CRM's duplicate rule matched, when it refused a new one as a duplicate.
    duplicates: tuple[str, ...] = ()
    # Written to a record the CRM already had for this person (found by email, or by its
    # duplicate rule), which now carries leadsync's key: not created, taken over.
    adopted: bool = False


@dataclass(frozen=True)
class CrmChange:
    """Something sales did in the CRM, read back for the lifecycle: a lead's status or
    owner changed, a task was completed. ``lead_key`` is leadsync's key when the CRM
    record carries it (a task names its key, not its lead's)."""

    kind: str  # "lead" or "task"
    crm_id: str
    key: str | None
    fields: Mapping[str, Any]
    at: datetime | None


@dataclass(frozen=True)
class FieldGuard:
    """What leadsync may not write to a CRM record it did not create (a Contact a new lead
    is attached to, a HubSpot contact adopted by email): the fields sales owns
    (``create_only``) never, the ``fill_if_empty`` ones only where the record has none."""

    create_only: frozenset[str] = frozenset()
    fill_if_empty: frozenset[str] = frozenset()

    def apply(self, record: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
        return {
            name: value
            for name, value in record.items()
            if name not in self.create_only
            and not (name in self.fill_if_empty and current.get(name) not in (None, ""))
        }


def task_of(task_key: str) -> tuple[str, str]:
    """The lead key and stage a follow-up task's key names (``task:<lead>:<stage>:<at>``,
    as ``rules.handoff.task_key`` writes it): which hand-off a task in the CRM stands for."""
    parts = task_key.split(":")
    return (parts[1], parts[2]) if len(parts) > 3 and parts[0] == "task" else ("", task_key)


def missing_result(system: str) -> RecordResult:
    """The result of a record a batch answer said nothing of: failed, and worth sending
    again (an upsert by key cannot make it twice)."""
    return RecordResult(
        ok=False,
        code="MISSING_RESULT",
        retriable=True,
        message=f"{system}'s answer holds no result for this record",
    )


class Connector(ABC):
    kind: ClassVar[str]
    Config: ClassVar[type[ConnectorConfig]]

    def __init__(self, name: str, config: ConnectorConfig, base_dir: Path) -> None:
        self.name = name
        self.config = config
        self.base_dir = base_dir
        self.calls = CallCounter()
        self.quota = ApiQuota()
        # What the log must never show: this connector's credentials.
        self.secrets = secret_values(config)

    @classmethod
    def from_options(
        cls, name: str, options: Mapping[str, Any], *, key: str, path: Path
    ) -> Connector:
        """Validate this connector's options; errors name the config key path."""
        try:
            config = cls.Config.model_validate(dict(options))
        except ValidationError as exc:
            problems = pydantic_problems(path, exc, cls.Config, tuple(key.split(".")))
            raise ConfigError(problems) from None
        return cls(name, config, path.parent)

    def check(self) -> list[str]:
        """Problems found by talking to the system (connection, credentials); [] when fine."""
        return []

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


class Source(Connector):
    # Reads files on this machine: `check --offline` (and a sync, before it starts) may
    # look at it; a remote source is only checked when talking to systems is allowed.
    local: ClassVar[bool] = False
    # Its pages may be read in a thread of their own, one ahead of the run (`sync.readahead`):
    # its reading shares nothing with the run (no client, quota or counter of the run's).
    read_ahead: ClassVar[bool] = False
    # Where the fields `columns` names come from, as `check` says it.
    offers: ClassVar[str] = "the file's header"

    def problems_asking(self, *asks: Callable[[], object]) -> list[str]:
        """What went wrong asking the system these things (its fields, its types), said
        as the source's problems: a `check` of a source that talks to a system."""
        try:
            for ask in asks:
                ask()
        except (ConnectorError, ConfigError) as exc:
            return [f"sources.{self.name}: {exc}"]
        return []

    @abstractmethod
    def columns(self) -> list[str] | None:
        """The fields this source offers, when it can tell (a CSV header), for `check`."""

    # The fields the mappings read, for a source that fetches only what is asked for.
    wanted: frozenset[str] = frozenset()

    def want(self, columns: set[str]) -> None:
        self.wanted = frozenset(columns)

    def complete(self, records: Sequence[RawRecord]) -> list[RawRecord]:
        """Partial records (``RawRecord.partial``) made whole, with their fields read: those
        whose id leadsync did not know yet. A source that sends none needs none."""
        raise NotImplementedError(f"{self.kind} sends no partial records")

    def what_maps(self) -> Any:
        """The options that change what its records say: a change re-maps the source."""
        return self.config.model_dump(mode="json")

    @abstractmethod
    def read(self, cursor: Mapping[str, Any] | None, page_size: int) -> Iterator[Page]:
        """Records since ``cursor``, in pages; each page's cursor holds once it is committed."""


class Destination(Connector):
    max_batch: ClassVar[int]
    # Set from the CRM field map's directions when the connector is wired.
    guard: FieldGuard = FieldGuard()
    # The CRM field the lead's email is written to, set from the CRM field map when the
    # connector is wired (None: not mapped); new leads are matched to the CRM's people by
    # it. Emails arrive normalised (trimmed, lower case) from the mapping.
    email_field: str | None = None

    @property
    def batch_size(self) -> int:
        """Records a write request carries: the config's ``batch_size`` within the API's
        ``max_batch``."""
        return min(getattr(self.config, "batch_size", self.max_batch), self.max_batch)

    def refuse_oversized(self, records: Sequence[Any]) -> None:
        """More records than one request carries is the caller's bug: caught before any
        request is sent."""
        if len(records) > self.batch_size:
            raise ValueError(f"at most {self.batch_size} records per upsert, got {len(records)}")

    @property
    def bulk_threshold(self) -> int | None:
        """Pending upserts at or above which a push writes through the CRM's bulk API
        (None: the CRM has none, or it is turned off)."""
        return None

    @property
    def bulk_job_size(self) -> int:
        """Records per bulk upsert."""
        return 0

    def bulk_upsert(
        self, records: Rows, crm_ids: CrmIds = None, *, before_upload: BeforeUpload = None
    ) -> list[RecordResult]:
        """``upsert`` through the CRM's bulk API, for a backfill. ``before_upload`` is
        called once a job exists and before any record is sent: what it raises stops the
        job, and nothing is written."""
        raise NotImplementedError(f"{self.kind} has no bulk API")

    @abstractmethod
    def describe(self) -> ObjectSchema:
        """The schema of the object leads are written to."""

    @abstractmethod
    def upsert(self, records: Rows, crm_ids: CrmIds = None) -> list[RecordResult]:
        """Create or update by external id; one result per record, in order. ``crm_ids``
        are the records' ids in the CRM where leadsync knows them (None for new ones)."""

    @abstractmethod
    def upsert_tasks(
        self, tasks: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        """Create follow-up tasks (leadsync's words: key, subject, due, priority, description,
        owner) on the CRM leads ``lead_ids``, keyed so that sending one twice makes one.
        ``check_open`` marks a task for a record leadsync took over: one open task for the
        same stage that another state db left there stands for it."""

    def mark_tasks(self, marks: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Set aside follow-up tasks leadsync made (``task``: its key; ``crm_id``: its id;
        ``subject``: the new subject), deferred rather than completed, so that the CRM shows
        the task was handed on (an SLA's reassignment) and no one counts it as a touch."""
        raise NotImplementedError(f"{self.kind} cannot mark its tasks")

    @abstractmethod
    def set_nurture(
        self, members: Sequence[Mapping[str, Any]], lead_ids: Sequence[str]
    ) -> list[RecordResult]:
        """Join or leave nurture (leadsync's words: member, action, campaign, status) for the CRM
        leads ``lead_ids``, keyed by member so that sending one twice changes nothing more."""

    def read_changes(
        self, cursor: Mapping[str, Any] | None, lead_fields: Sequence[str] = ()
    ) -> Iterator[tuple[list[CrmChange], dict[str, Any]]]:
        """What sales changed since ``cursor`` (leads' status and owner, and ``lead_fields``;
        tasks' status), a page at a time, with the cursor that holds once the page is
        processed."""
        raise NotImplementedError(f"{self.kind} cannot read changes back yet")

    def snapshot(
        self, fields: Sequence[str], crm_ids: Sequence[str]
    ) -> Iterator[tuple[str | None, str, dict[str, Any]]]:
        """Every CRM record carrying leadsync's key, and the records ``crm_ids`` that may
        not (a Contact a lead was attached to): (key or None, CRM id, ``fields`` it has),
        read in few requests, for ``leadsync reconcile``."""
        raise NotImplementedError(f"{self.kind} cannot be reconciled yet")

    def task_keys(self) -> Iterator[tuple[str, str]]:
        """(idempotency key, CRM id) of every follow-up task carrying leadsync's key, for
        ``leadsync reconcile --adopt``."""
        raise NotImplementedError(f"{self.kind} cannot list leadsync's tasks yet")

    def refresh_quota(self) -> None:
        """Ask the CRM how much of its daily API quota is used, when no answer said yet."""

    def same_owner(self, written: str, crm_value: str) -> bool:
        """Whether the owner leadsync wrote is the one the CRM now names (a CRM that takes
        owners by email answers with their id)."""
        return written == crm_value

    def existing_owners(self, people: Mapping[str, str]) -> dict[str, str]:
        """email -> who already owns that person in the CRM (a contact, or a lead leadsync did
        not make), for ``people`` (email -> lead key); {} when the CRM cannot say."""
        return {}

    def campaign_exists(self, campaign_id: str) -> bool | None:
        """Whether the nurture campaign (or list) exists and is active; None: cannot tell."""
        return None

    def can_own_tasks(self, owner: str) -> bool:
        """Whether ``owner`` may be assigned a task (a queue may own a lead, not a task)."""
        return True

    def active_owners(self) -> frozenset[str] | None:
        """Who may own a lead (active users, queues); None when the CRM cannot say."""
        return None

    def owner_names(self) -> dict[str, str]:
        """The names of the owners the CRM told this run (when ``active_owners`` asked):
        no request of its own. leadsync keeps them, so that every output names people."""
        return {}

    @property
    @abstractmethod
    def external_id_field(self) -> str: ...


SEPARATOR = "\x1f"  # between a record's values in its content hash

# A content hash is SHA-256's first 128 bits, in hex: it only tells one version of a
# record from the next, so 32 characters are as good as 64, and the state db keeps one
# for every record twice (its row and, on PostgreSQL, the index a lookup reads): 128
# bytes a lead less on a first load there (bench/README.md, migration 0012).
HASH_CHARS = 32


def content_hash(values: Sequence[Any]) -> str:
    """A record's fingerprint: equal exactly when every value is (None differs from "")."""
    try:
        text = SEPARATOR.join(values)  # all text (a CSV row): the same string, 3x faster
    except TypeError:
        text = SEPARATOR.join("\x1e" if v is None else str(v) for v in values)
    return joined_hash(text)


def joined_hash(joined: str) -> str:
    """The content hash of values already joined by ``SEPARATOR`` (a CSV row's line can
    be, without splitting it)."""
    return hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
