"""What the Salesforce emulator answers with: JSON, REST errors, SOAP login faults, and
the faults a test asks for, in the shapes Salesforce sends."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response


def xml_text(root: ET.Element, local: str) -> str | None:
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == local:
            return el.text
    return None


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type="application/json;charset=UTF-8")


def rest_error(status: int, code: str, message: str) -> Response:
    return json_response([{"message": message, "errorCode": code}], status)


def not_supported(obj: str) -> Response:
    return rest_error(404, "NOT_FOUND", f"The requested resource does not exist: {obj}")


def soap_fault(code: str, message: str) -> Response:
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:sf="urn:fault.partner.soap.sforce.com"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body>
<soapenv:Fault>
<faultcode>sf:{code}</faultcode>
<faultstring>{code}: {escape(message)}</faultstring>
<detail>
<sf:LoginFault xsi:type="sf:LoginFault">
<sf:exceptionCode>{code}</sf:exceptionCode>
<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>
</sf:LoginFault>
</detail>
</soapenv:Fault>
</soapenv:Body>
</soapenv:Envelope>"""
    return Response(body, 500, content_type="text/xml; charset=utf-8")


def without_last_result(response: Response) -> Response:
    """A batch answer that claims success but says nothing of its last record (the record
    itself was written)."""
    body = json.loads(response.get_data())
    if isinstance(body, list) and body:
        return json_response(body[:-1])
    return response


def fault_response(kind: str) -> Response:
    if kind == "503":
        return rest_error(
            503, "SERVER_UNAVAILABLE", "The server is temporarily unable to handle the request."
        )
    if kind == "500":
        return rest_error(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please "
            "include this ErrorId if you contact support: 1916224931-91 (-73)",
        )
    if kind == "session_expired":
        return rest_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if kind == "request_limit":
        return rest_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if kind == "429":  # Salesforce's own "slow down": too many long requests at once
        return rest_error(403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded.")
    raise ValueError(kind)
