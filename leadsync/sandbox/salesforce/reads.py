"""What the Salesforce emulator answers to reads: SOQL queries and records by id."""

from __future__ import annotations

import secrets
from typing import Any

from werkzeug.wrappers import Request, Response

from leadsync.sandbox.salesforce.responses import json_response, rest_error
from leadsync.sandbox.salesforce.soql import SoqlError, select
from leadsync.sandbox.salesforce.store import Store

QUERY_PAGE = 2000  # rows in one answer to a query; the rest behind nextRecordsUrl


class ReadEndpoints:
    """SOQL queries, paged as Salesforce pages them (2,000 rows, the rest behind
    nextRecordsUrl), and single records by id."""

    store: Store
    cursors: dict[str, list[dict[str, Any]]]

    def query(self, request: Request, version: str) -> Response:
        """A SOQL subset: SELECT fields FROM Object [WHERE term [AND term ...]]
        [ORDER BY field [, field]] [LIMIT n]; a term is ``field op value`` (= != < <= > >=,
        with 'text', true, false, null, a number or a datetime) or ``field IN ('a', 'b')``.
        Answers 2,000 rows a page, the rest behind ``nextRecordsUrl``, as Salesforce does."""
        answer = self._select((request.args.get("q") or "").strip())
        if isinstance(answer, Response):
            return answer
        obj, fields, rows = answer
        records = [
            {
                "attributes": {
                    "type": obj,
                    "url": f"/services/data/v{version}/sobjects/{obj}/{r['Id']}",
                },
                **{f: r.get(f) for f in fields},
            }
            for r in rows
        ]
        locator = f"01g5g{secrets.token_hex(6)}"
        self.cursors[locator] = records
        return self._query_page(version, locator, 0)

    def query_more(self, request: Request, version: str, locator: str) -> Response:
        cursor, _, start = locator.rpartition("-")
        if cursor not in self.cursors or not start.isdigit():
            return rest_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._query_page(version, cursor, int(start))

    def _query_page(self, version: str, locator: str, start: int) -> Response:
        records = self.cursors[locator]
        end = start + QUERY_PAGE
        body: dict[str, Any] = {
            "totalSize": len(records),
            "done": end >= len(records),
            "records": records[start:end],
        }
        if end < len(records):
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        else:
            del self.cursors[locator]
        return json_response(body)

    def _select(self, soql: str) -> tuple[str, list[str], list[dict[str, Any]]] | Response:
        """The object, fields and matching records of a SOQL query, or the error answer."""
        try:
            return select(self.store, soql)
        except SoqlError as err:
            return rest_error(400, err.code, err.message)

    def sobject_get(self, request: Request, version: str, obj: str, rid: str) -> Response:
        record = self.store.records.get(obj, {}).get(rid)
        if record is None:
            return rest_error(404, "NOT_FOUND", "The requested resource does not exist")
        return json_response(
            {
                "attributes": {
                    "type": obj,
                    "url": f"/services/data/v{version}/sobjects/{obj}/{rid}",
                },
                **record,
            }
        )
