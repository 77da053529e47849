"""The HTTP side of `leadsync run`: the forms inbox, health, metrics (WSGI), and the
admin pages under ``/admin`` (``service.admin``).

``POST /forms/<source>`` checks the sender's signature against the raw body, stores
the submission and commits, then answers: 202 stored (its run is woken), 200 the
same submission again, 401 a bad or missing signature, 413 a body over
``max_body_bytes``, 400 a body that is not a form, 404 no such forms source. Only a
2xx stores anything, and no log line holds what the visitor typed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, cast

from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from leadsync import clock, log
from leadsync.connectors.webhook import WebhookSource
from leadsync.connectors.webhook.formats import Refused, Submission, accept
from leadsync.service.admin import Admin
from leadsync.service.jobs import Jobs
from leadsync.service.metrics import Metrics
from leadsync.state import db, inbox
from leadsync.sync.wiring import Wiring

logger = log.get("leadsync.service")
JSON = "application/json"


class Listener:
    def __init__(
        self,
        wiring: Wiring,
        engine: Engine,
        jobs: Jobs,
        metrics: Metrics,
        wake: Callable[[str], None],
        stopping: threading.Event,
    ) -> None:
        self.forms = {
            name: cast(WebhookSource, wiring.sources[name][0]) for name in wiring.webhook_sources
        }
        self.engine = engine
        self.factory = db.session_factory(engine)
        self.jobs = jobs
        self.metrics = metrics
        self.wake = wake
        self.stopping = stopping
        self.ready_interval = wiring.config.settings.service.ready_interval_seconds
        self.admin = Admin(wiring, engine, wake=wake)
        self.routes = Map(
            [
                Rule("/healthz", endpoint="healthz", methods=["GET"]),
                Rule("/readyz", endpoint="readyz", methods=["GET"]),
                Rule("/metrics", endpoint="prometheus", methods=["GET"]),
                Rule("/forms/<source>", endpoint="form", methods=["POST"]),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/admin" or request.path.startswith("/admin/"):
            try:
                return self.admin(request)(environ, start_response)
            except Exception:  # a bug: logged with its traceback, a page that says so
                logger.exception("service.admin.crashed", path=request.path)
                page = Response("internal error; see the service's log", 500)
                return page(environ, start_response)
        try:
            endpoint, args = self.routes.bind_to_environ(environ).match()
            response = getattr(self, endpoint)(request, **args)
        except MethodNotAllowed as exc:
            response = _json({"error": f"{request.method} is not allowed here"}, 405)
            response.headers["Allow"] = ", ".join(exc.valid_methods or ())
        except NotFound:
            response = _json({"error": f"no such path: {request.path}"}, 404)
        except HTTPException as exc:
            response = _json({"error": exc.description}, exc.code or 500)
        except Exception:  # a bug: logged with its traceback, answered 500 (a sender retries)
            logger.exception("service.listener.crashed", path=request.path)
            response = _json({"error": "internal error; see the service's log"}, 500)
        return response(environ, start_response)

    # -- health ------------------------------------------------------------------

    def healthz(self, request: Request) -> Response:
        return _json({"status": "stopping" if self.stopping.is_set() else "alive"})

    def readyz(self, request: Request) -> Response:
        """Ready: the state db answers, and the CRM's last answer to a job was not a failure
        and came within ``ready_interval_seconds`` (or no job has needed it yet)."""
        problems = []
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            problems.append(f"state db: {db.state_error(exc)}")
        contact = self.jobs.crm_contact
        crm: dict[str, Any] = {"reached": None}
        if contact is not None:
            at, ok = contact
            age = time.time() - at
            crm = {"reached_seconds_ago": round(age, 1), "ok": ok}
            if not ok:
                problems.append("CRM: the last job that talked to it failed")
            elif age > self.ready_interval:
                problems.append(f"CRM: not reached for {int(age)} s")
        if self.stopping.is_set():
            problems.append("stopping")
        body = {"ready": not problems, "problems": problems, "crm": crm}
        return _json(body, 200 if not problems else 503)

    def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.text(), 200, content_type=CONTENT_TYPE_LATEST)

    # -- the forms inbox ---------------------------------------------------------

    def form(self, request: Request, source: str) -> Response:
        webhook = self.forms.get(source)
        if webhook is None:
            known = ", ".join(sorted(self.forms)) or "none configured"
            return _json({"error": f"no forms source {source!r} (forms sources: {known})"}, 404)
        if self.stopping.is_set():
            response = _json({"error": "the service is stopping: send again shortly"}, 503)
            response.headers["Retry-After"] = "30"
            return response
        try:
            body, submission = self._accepted(request, webhook)
        except Refused as refused:
            self.metrics.forms.labels(source, "refused").inc()
            logger.warning(
                "forms.refused", source=source, status=refused.status, reason=str(refused)
            )
            return _json({"error": refused.reason}, refused.status)
        if submission.ignored:
            self.metrics.forms.labels(source, "ignored").inc()
            return _json({"ignored": submission.ignored})
        with self.factory() as session, session.begin():
            new = inbox.store(
                session,
                source,
                submission.key,
                submission.fields,
                body=body.decode("utf-8", "replace"),
                content_type=request.mimetype or "",
                received_at=datetime.now(UTC),  # bookkeeping: the wall clock
                submitted_at=submission.submitted_at,
            )
        self.metrics.forms.labels(source, "stored" if new else "duplicate").inc()
        logger.info("forms.received", source=source, submission=submission.key, duplicate=not new)
        if not new:
            return _json({"stored": False, "duplicate": True, "submission": submission.key})
        self.wake(source)
        return _json({"stored": True, "submission": submission.key}, 202)

    def _accepted(self, request: Request, webhook: WebhookSource) -> tuple[bytes, Submission]:
        """The raw body (at most ``max_body_bytes``) and the submission it holds."""
        limit = webhook.config.max_body_bytes
        if (request.content_length or 0) > limit:
            raise Refused(413, f"body over {limit} bytes (max_body_bytes)")
        body = request.stream.read(limit + 1)
        if len(body) > limit:
            raise Refused(413, f"body over {limit} bytes (max_body_bytes)")
        return body, accept(
            webhook.config.format,
            body,
            request.mimetype or "",
            {name.lower(): value for name, value in request.headers.items()},
            webhook.config.secret.get_secret_value(),
            clock.now(),
            webhook.config.tolerance_seconds,
        )


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status, content_type=JSON)
