"""How a client logs in to the Salesforce emulator, as to Salesforce: the SOAP login and
the OAuth token endpoint, with the faults and error bodies Salesforce answers with."""

from __future__ import annotations

import base64
import secrets
import time
import xml.etree.ElementTree as ET
from typing import Any
from xml.sax.saxutils import escape

import jwt
from werkzeug.wrappers import Request, Response

from leadsync.sandbox.salesforce.responses import json_response, soap_fault, xml_text
from leadsync.sandbox.salesforce.store import sf_id

ORG_ID = "00D5g000004Sandbx"


class LoginEndpoints:
    """The emulator's logins: SOAP username/password, and OAuth's client-credentials,
    password and JWT bearer grants; each gives a session id the REST calls must carry."""

    credentials: Any
    sessions: set[str]

    def _new_session(self) -> str:
        token = f"{ORG_ID}!AQ{secrets.token_urlsafe(24)}"
        self.sessions.add(token)
        return token

    def login(self, request: Request, version: str) -> Response:
        try:
            root = ET.fromstring(request.get_data())
        except ET.ParseError:
            return soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        username = xml_text(root, "username")
        password = xml_text(root, "password")
        c = self.credentials
        if username != c.username or password != c.password + c.security_token:
            return soap_fault(
                "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
            )
        host = request.host
        session = self._new_session()
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns="urn:partner.soap.sforce.com"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body>
<loginResponse>
<result>
<metadataServerUrl>https://{host}/services/Soap/m/{version}/{ORG_ID}</metadataServerUrl>
<passwordExpired>false</passwordExpired>
<sandbox>true</sandbox>
<serverUrl>https://{host}/services/Soap/u/{version}/{ORG_ID}</serverUrl>
<sessionId>{escape(session)}</sessionId>
<userId>{sf_id("005", 1)}</userId>
<userInfo>
<organizationId>{ORG_ID}</organizationId>
<userEmail>{escape(c.username)}</userEmail>
<userName>{escape(c.username)}</userName>
</userInfo>
</result>
</loginResponse>
</soapenv:Body>
</soapenv:Envelope>"""
        return Response(body, 200, content_type="text/xml; charset=utf-8")

    def oauth_token(self, request: Request) -> Response:
        c = self.credentials
        grant = request.form.get("grant_type")
        ok = False
        if grant == "client_credentials":
            auth = request.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                pair = base64.b64decode(auth[6:]).decode("utf-8", "replace")
                ok = pair == f"{c.client_id}:{c.client_secret}"
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = self._jwt_problem(request.form.get("assertion", ""))
            if problem is not None:
                return json_response({"error": "invalid_grant", "error_description": problem}, 400)
            ok = True
        elif grant == "password":
            ok = (
                request.form.get("client_id") == c.client_id
                and request.form.get("client_secret") == c.client_secret
                and request.form.get("username") == c.username
                and request.form.get("password") in (c.password, c.password + c.security_token)
            )
        else:
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                400,
            )
        if not ok:
            return json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"}, 400
            )
        return json_response(
            {
                "access_token": self._new_session(),
                "instance_url": f"https://{request.host}",
                "id": f"https://{request.host}/id/{ORG_ID}/{sf_id('005', 1)}",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": base64.b64encode(secrets.token_bytes(32)).decode(),
            }
        )

    def _jwt_problem(self, assertion: str) -> str | None:
        """Why Salesforce would refuse this JWT bearer assertion; None when it is good."""
        c = self.credentials
        if c.jwt_public_key is None:
            return "invalid assertion"
        try:
            claims = jwt.decode(
                assertion,
                c.jwt_public_key,
                algorithms=["RS256"],
                options={"verify_aud": False, "require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            return "expired authorization code"
        except jwt.PyJWTError:
            return "invalid assertion"
        if claims["iss"] != c.client_id:
            return "invalid client credentials"
        if claims["sub"] != c.username:
            return "user hasn't approved this consumer"
        if not str(claims["aud"]).endswith(".salesforce.com"):
            return "audience is invalid"
        return None
