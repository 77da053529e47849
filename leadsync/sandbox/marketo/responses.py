"""What the Marketo emulator answers with: its JSON envelope (``success``, ``result``,
``errors[].code``), and faults in Marketo's words."""

from __future__ import annotations

import json
import secrets
from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response


class MarketoError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def fault_error(kind: str) -> MarketoError:
    """A fault in Marketo's words: a rate limit is 606, a used-up day 607, an expired
    session 602, a server's trouble 604 (timed out) or 611 (system error)."""
    return {
        "429": MarketoError("606", "Max rate limit '100' exceeded with in '20' secs"),
        "request_limit": MarketoError("607", "Daily quota reached"),
        "session_expired": MarketoError("602", "Access token expired"),
        "503": MarketoError("604", "Request timed out"),
    }.get(kind, MarketoError("611", "System error"))


def request_id() -> str:
    return f"{secrets.token_hex(2)}#{secrets.token_hex(6)}"


def json_body(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json;charset=UTF-8")


def ok(result: list[Any]) -> Response:
    return json_body({"requestId": request_id(), "result": result, "success": True})


def failure(code: str, message: str) -> Response:
    body = {
        "requestId": request_id(),
        "success": False,
        "errors": [{"code": code, "message": message}],
    }
    return json_body(body)


def refused(exc: HTTPException) -> Response:
    if exc.code == 404:
        return failure("610", "Requested resource not found")
    return json_body({"error": str(exc)}, exc.code or 400)
