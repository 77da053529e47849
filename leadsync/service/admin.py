"""The admin pages of `leadsync run`, under ``/admin`` on its listener.

One overview (health and the job schedule with last runs, the funnel of the last 30
days, the dead letters by reason with retry and discard, the latest quarantined
records with discard) and a lead's page (what `leadsync explain` says), found by email, CRM id or
source id. The pages ask for the token in ``LEADSYNC_ADMIN_TOKEN`` (no token set: no
pages); the session is a signed cookie (HttpOnly, SameSite=Strict, path /admin), every
action is a POST carrying the session's CSRF token, and nothing personal is ever in a
URL: a lead is searched by a POST and shown at its leadsync key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from html import escape
from typing import Any

from sqlalchemy import Engine
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from leadsync import clock
from leadsync.errors import LeadsyncError
from leadsync.ops.explain import explain, find_lead
from leadsync.ops.report import build_report
from leadsync.state import db, jobs, outbox, owners, quarantine, repo
from leadsync.state.ledger import Period
from leadsync.state.models import Quarantine
from leadsync.sync.wiring import Wiring

TOKEN_ENV = "LEADSYNC_ADMIN_TOKEN"
COOKIE = "leadsync_admin"
SESSION_SECONDS = 8 * 3600
STYLE = """body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 900px }
table { border-collapse: collapse } td, th { padding: 2px 10px; text-align: left }
th { border-bottom: 1px solid #999 } form.inline { display: inline } pre { background: #f4f4f4;
padding: .6rem; white-space: pre-wrap } .bad { color: #a00 } .ok { color: #070 }"""


class Admin:
    """The ``/admin`` pages; ``token`` None turns them off."""

    def __init__(
        self,
        wiring: Wiring,
        engine: Engine,
        token: str | None = None,
        wake: Callable[[str], None] | None = None,
    ) -> None:
        self.wake = wake or (lambda source: None)  # runs a source's sync soon
        self.wiring = wiring
        self.engine = engine
        self.factory = db.session_factory(engine)
        self.token = token if token is not None else os.environ.get(TOKEN_ENV) or None
        # Sessions are signed with a key of this process: a restart asks to log in again.
        self.key = secrets.token_bytes(32)

    def __call__(self, request: Request) -> Response:
        if self.token is None:
            return _page("Admin pages off", f"<p>Set {TOKEN_ENV} to turn them on.</p>", 404)
        path, method = request.path.rstrip("/") or "/admin", request.method
        if path == "/admin/login":
            return self._login(request) if method == "POST" else _login_page()
        session = self._session(request)
        if session is None:
            return redirect("/admin/login", 303)
        if method == "POST" and not hmac.compare_digest(
            request.form.get("csrf", ""), self._csrf(session)
        ):
            return _page("Refused", "<p>The form's token is not this session's.</p>", 403)
        routes = {
            ("/admin", "GET"): self._overview,
            ("/admin/dead-letters", "POST"): self._dead_letters,
            ("/admin/quarantine", "POST"): self._quarantine,
            ("/admin/find", "POST"): self._find,
            ("/admin/logout", "POST"): self._logout,
        }
        if path.startswith("/admin/lead/") and method == "GET":
            return self._lead(session, path.removeprefix("/admin/lead/"))
        handler = routes.get((path, method))
        if handler is None:
            return _page("Not found", "<p>No such admin page.</p>", 404)
        return handler(session, request)

    # -- the session -----------------------------------------------------------

    def _login(self, request: Request) -> Response:
        given = request.form.get("token", "")
        if not hmac.compare_digest(given.encode(), str(self.token).encode()):
            return _login_page("That is not the admin token.", 401)
        expires = str(int(time.time()) + SESSION_SECONDS)
        session = f"{expires}.{secrets.token_hex(16)}"
        response = redirect("/admin", 303)
        response.set_cookie(
            COOKIE,
            f"{session}.{self._sign(session)}",
            max_age=SESSION_SECONDS,
            path="/admin",
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
        )
        return response

    def _logout(self, session: str, request: Request) -> Response:
        response = redirect("/admin/login", 303)
        response.delete_cookie(COOKIE, path="/admin")
        return response

    def _session(self, request: Request) -> str | None:
        """The signed session of the request's cookie, unexpired; None otherwise."""
        value = request.cookies.get(COOKIE, "")
        session, _, signature = value.rpartition(".")
        if not session or not hmac.compare_digest(signature, self._sign(session)):
            return None
        expires = session.partition(".")[0]
        return session if expires.isdigit() and int(expires) > time.time() else None

    def _sign(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def _csrf(self, session: str) -> str:
        return self._sign("csrf:" + session)

    # -- pages -----------------------------------------------------------------

    def _overview(self, session: str, request: Request) -> Response:
        now = clock.now()
        with self.factory() as s:
            scheduled = jobs.all_jobs(s)
            dead = outbox.dead_letters(s)
            quarantined = repo.recent_quarantine(s)
            names = owners.known(s)
        report = build_report(self.engine, now, Period(now - timedelta(days=30), None))
        csrf = escape(self._csrf(session))
        body = [
            _form("/admin/logout", csrf, "Log out", {}),
            "<h2>Find a lead</h2>",
            f'<form method="post" action="/admin/find"><input type="hidden" name="csrf" '
            f'value="{csrf}"><input name="who" size="40" aria-label="lead" '
            'placeholder="email, CRM id or source id"> <button>Find</button></form>',
            "<h2>Jobs</h2>",
            _table(
                ["job", "schedule", "last result", "last finished", "next run"],
                [
                    [
                        j.name,
                        j.schedule,
                        j.last_result or "-",
                        _when(j.last_finished_at),
                        _when(j.next_run_at),
                    ]
                    for j in scheduled
                ],
            ),
            "<h2>Funnel, the last 30 days</h2>",
            _funnel(report),
            "<h2>Owners, the last 30 days</h2>",
            _table(
                ["owner", "MQLs", "open now", "accepted", "median hours to first touch"],
                [
                    [
                        names.get(o["owner"], o["owner"]),
                        o["mqls"],
                        o["open_mqls_now"],
                        o["accepted"],
                        _num(o["median_hours_to_first_touch"]),
                    ]
                    for o in report["owners"]
                ],
            ),
            "<h2>Dead letters</h2>",
            _table(
                ["reason", "ops", "latest message", ""],
                [
                    [
                        code,
                        n,
                        message,
                        _form(
                            "/admin/dead-letters",
                            csrf,
                            "Retry",
                            {"action": "retry", "reason": code},
                        )
                        + " "
                        + _form(
                            "/admin/dead-letters",
                            csrf,
                            "Discard",
                            {"action": "discard", "reason": code},
                        ),
                    ]
                    for code, n, message in dead
                ],
                raw_last=True,
            ),
            "<h2>Quarantined records (latest)</h2>",
            "<p>Retry maps the record again, as kept, at its source's next sync (after a fix "
            "to the rules or the CRM; a changed field map reads every record again anyway, "
            "and a record changed in its source is read again).</p>",
            _table(
                ["when", "source", "record", "field", "reason", ""],
                [
                    [
                        _when(q.created_at),
                        q.source,
                        q.record_ref,
                        q.field or "",
                        q.reason,
                        _form(
                            "/admin/quarantine", csrf, "Retry", {"action": "retry", "id": str(q.id)}
                        )
                        + " "
                        + _form(
                            "/admin/quarantine",
                            csrf,
                            "Discard",
                            {"action": "discard", "id": str(q.id)},
                        ),
                    ]
                    for q in quarantined
                ],
                raw_last=True,
            ),
        ]
        notice = request.args.get("done")
        if notice:
            body.insert(0, f'<p class="ok" role="status">{escape(notice)}</p>')
        return _page("leadsync", "\n".join(body))

    def _dead_letters(self, session: str, request: Request) -> Response:
        action, reason = request.form.get("action"), request.form.get("reason") or None
        with self.factory() as s, s.begin():
            if action == "retry":
                again, replan = outbox.retry_dead_letters(s, reason)
                done = f"{reason}: {again} ops sent again, {replan} leads planned anew"
            elif action == "discard":
                done = f"{reason}: {outbox.discard_dead_letters(s, reason)} discarded for good"
            else:
                return _page("Refused", "<p>No such action.</p>", 400)
        return redirect(f"/admin?done={_url_text(done)}", 303)

    def _quarantine(self, session: str, request: Request) -> Response:
        """A quarantined record mapped again by its source's next sync (woken now), or off
        the list for good."""
        record, action = request.form.get("id", ""), request.form.get("action")
        if not record.isdigit() or action not in ("retry", "discard"):
            return _page("Refused", "<p>No such record or action.</p>", 400)
        with self.factory() as s, s.begin():
            row = s.get(Quarantine, int(record))
            if row is None:
                done = "no such quarantined record (already retried or discarded)"
            elif action == "retry":
                quarantine.ask_retry(s, [row.id])
                done = f"the {row.source} record is mapped again at that source's next sync"
                source = row.source
            else:
                s.delete(row)
                done = "1 quarantined record discarded"
        if row is not None and action == "retry":
            self.wake(source)
        return redirect(f"/admin?done={_url_text(done)}", 303)

    def _find(self, session: str, request: Request) -> Response:
        who = request.form.get("who", "").strip()
        try:
            with self.factory() as s:
                lead = find_lead(s, who) if who else None
        except LeadsyncError as exc:
            return _page("Which lead?", f'<p class="bad">{escape(str(exc))}</p>', 400)
        if lead is None:
            return _page("No such lead", "<p>No lead matches that.</p>", 404)
        return redirect(f"/admin/lead/{lead.key}", 303)  # the key: nothing personal

    def _lead(self, session: str, key: str) -> Response:
        lines = explain(self.wiring, self.engine, key, clock.now())
        if lines is None:
            return _page("No such lead", "<p>No lead has that key.</p>", 404)
        return _page("Lead", f"<pre>{escape(chr(10).join(lines))}</pre>")


def _funnel(report: dict[str, Any]) -> str:
    row = next((r for r in report["funnel"] if r["group"] == "all"), None)
    if row is None:
        return "<p>No lead entered a stage in the period.</p>"
    entered = _table(list(row["entered"]), [list(row["entered"].values())])
    steps = _table(
        ["step", "from", "went on", "rate"],
        [
            [k.replace(">", " to "), c["from"], c["to"], _pct(c["rate"])]
            for k, c in row["conversion"].items()
        ],
    )
    return entered + steps


def _login_page(problem: str = "", status: int = 200) -> Response:
    note = f'<p class="bad" role="alert">{escape(problem)}</p>' if problem else ""
    return _page(
        "Log in",
        note + '<form method="post" action="/admin/login"><label>Admin token '
        '<input type="password" name="token" autocomplete="current-password"></label> '
        "<button>Log in</button></form>",
        status,
    )


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    response = Response(html, status, content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


def _form(action: str, csrf: str, label: str, fields: dict[str, str]) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    return (
        f'<form class="inline" method="post" action="{action}">'
        f'<input type="hidden" name="csrf" value="{csrf}">{hidden}'
        f"<button>{escape(label)}</button></form>"
    )


def _table(headers: list[str], rows: list[list[Any]], raw_last: bool = False) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{c if raw_last and i == len(row) - 1 else escape(str(c))}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _when(at: Any) -> str:
    return "-" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _url_text(text: str) -> str:
    from urllib.parse import quote

    return quote(text)
