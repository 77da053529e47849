"""The webhook source: form submissions, read from the state db's inbox.

The listener of `leadsync run` checks each request (``formats``) and stores it in the
inbox; this source reads what is stored past its cursor (the last inbox id), so that
a form goes through the same map, merge, score, route and hand-off as any record.
The inbox reader is handed over when the connector is wired (connectors do not reach
into the state db themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from leadsync.connectors.base import Page, RawRecord, Source, content_hash
from leadsync.connectors.webhook.config import WebhookConfig
from leadsync.errors import ConfigError


class Stored(Protocol):
    id: int
    key: str
    fields: dict[str, Any]


# (source, last id read, how many) -> the submissions after it, oldest first
InboxReader = Callable[[str, int, int], Sequence[Stored]]


class WebhookSource(Source):
    kind = "webhook"
    local = True
    Config = WebhookConfig
    config: WebhookConfig
    inbox: InboxReader | None = None

    def columns(self) -> list[str] | None:
        return None  # a form's fields are whatever the form sends

    def read(self, cursor: Mapping[str, Any] | None, page_size: int) -> Iterator[Page]:
        if self.inbox is None:
            raise ConfigError(f"sources.{self.name}: the forms inbox is not wired")
        last = int((cursor or {}).get("inbox_id", 0))
        while rows := self.inbox(self.name, last, page_size):
            last = rows[-1].id
            yield Page(records=[_record(row) for row in rows], cursor={"inbox_id": last})
            if len(rows) < page_size:
                return


def _record(row: Stored) -> RawRecord:
    fields = row.fields
    return RawRecord(
        ref=f"submission {row.key}",
        data=fields,
        external_id=row.key,
        content_hash=content_hash([f"{k}={fields[k]!r}" for k in sorted(fields)]),
    )
