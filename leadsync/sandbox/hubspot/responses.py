"""What the HubSpot emulator answers with: JSON bodies, HubSpot's error shape
(status, message, correlationId, category), owners, and the faults a test asks for."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Response


def without_last_result(response: Response) -> Response:
    """A batch answer that says nothing of one record it wrote."""
    body = json.loads(response.get_data())
    if isinstance(body, dict) and body.get("results"):
        body["results"] = body["results"][:-1]
        return json_response(response.status_code, body)
    return response


def owner(o: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": o["id"],
        "email": o["email"],
        "type": "PERSON",
        "firstName": o["firstName"],
        "lastName": o["lastName"],
        "userId": int(o["id"]) + 1000,
        "userIdIncludingInactive": int(o["id"]) + 1000,
        "createdAt": "2021-03-01T09:00:00.000Z",
        "updatedAt": "2024-03-01T09:00:00.000Z",
        "archived": o["archived"],
        "teams": [],
    }


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def json_response(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status, content_type="application/json;charset=utf-8")


def error(status: int, category: str, message: str, **extra: Any) -> Response:
    return json_response(
        status,
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
            **extra,
        },
    )


def fault_response(kind: str) -> Response:
    if kind == "429":
        return json_response(
            429,
            {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
                "requestId": str(uuid.uuid4()),
            },
        )
    if kind == "500":
        return error(500, "INTERNAL_ERROR", "internal error")
    if kind == "session_expired":
        return error(
            401,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 0 second(s) ago.",
        )
    return error(503, "SERVICE_UNAVAILABLE", "Service unavailable, please retry later")
