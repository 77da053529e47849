"""Alerts: when something needs a person, say so once, with what to do.

Incidents: a job failing ``failures_in_row`` times in a row, the CRM refusing the
login, dead letters over ``dead_letters_over``, the daily API quota past
``quota_used_over``. Each is alerted when it opens and not again until it has
closed (a job that succeeds, a login that works, the count back under the bar); the
open incidents are kept in the state db, so a restart does not repeat them. Hot
hand-offs (a task of high priority) can go to the same channel, each once.

Channels: an incoming webhook (the JSON ``{"text": ...}`` that Slack and Microsoft
Teams accept) and/or email over SMTP. Sending is bounded (three tries, ten seconds
each); an alert that cannot be sent is logged and the service goes on.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import requests
from sqlalchemy import Engine

from leadsync import log
from leadsync.retry import RetryPolicy
from leadsync.settings import AlertsSection
from leadsync.state import db, outbox, repo
from leadsync.sync.summary import RunSummary

logger = log.get("leadsync.service.alerts")
STATE_KEY = "alerts:open"
SEND = RetryPolicy(attempts=3, initial_seconds=1.0, max_seconds=5.0, deadline_seconds=30)
TIMEOUT_SECONDS = 10


class Alerts:
    def __init__(self, section: AlertsSection, engine: Engine, crm: str) -> None:
        self.section = section
        self.factory = db.session_factory(engine)
        self.crm = crm
        self.send: Callable[[str, str], None] = self._send

    def after_job(
        self,
        job: str,
        result: str,
        summary: RunSummary | None,
        failures_in_row: int,
        error: str | None,
        dead_letters: int,
        quota_share: float | None,
    ) -> None:
        """Open or close each incident this job's outcome says something about."""
        s = self.section
        self._incident(
            f"job:{job}",
            result == "failed" and failures_in_row >= s.failures_in_row,
            result != "failed",
            f"leadsync: the job {job} failed {failures_in_row} times in a row",
            f"Last error: {error}\nWhat to do: `leadsync status` shows each job's last error; "
            "fix what it names (the config, a credential, the CRM's availability). Nothing "
            "is lost meanwhile: the outbox and the cursors keep the work for the next run.",
        )
        if summary is not None:
            refused = summary.error_kind == "AuthenticationError"
            self._incident(
                "crm:login",
                refused,
                bool(summary.api_calls) and not refused,
                f"leadsync: {self.crm} refuses leadsync's login",
                f"{summary.error}\nWhat to do: check the credentials in the service's "
                "environment (a rotated secret, a locked or deactivated integration user, an "
                "expired certificate); `leadsync check` tries the login and says what it got.",
            )
        self._incident(
            "dead_letters",
            dead_letters > s.dead_letters_over,
            dead_letters <= s.dead_letters_over,
            f"leadsync: {dead_letters} writes the CRM refused for good",
            "What to do: `leadsync errors` lists them by reason; fix the mapping or the data, "
            "then `leadsync errors retry` (or `errors discard`).",
        )
        if quota_share is not None:
            self._incident(
                "quota",
                quota_share >= s.quota_used_over,
                quota_share < s.quota_used_over,
                f"leadsync: {quota_share:.0%} of {self.crm}'s daily API quota is used",
                "leadsync now writes hand-offs first and holds bulk updates for the reset "
                "(`leadsync status` says how many wait). What to do: find who else spends the "
                "quota, or raise it; nothing is lost.",
            )

    def hot_handoffs(self, run_id: str) -> None:
        """A message per high-priority follow-up task this run created, once each."""
        if not self.section.hot_handoffs:
            return
        with self.factory() as session, session.begin():
            sent = set((repo.cursor(session, "alerts:handoffs") or {}).get("keys", []))
            tasks = outbox.done_tasks_of_run(session, run_id)
            new = [t for t in tasks if t["priority"] == "high" and t["key"] not in sent]
            for task in new:
                self._deliver(
                    f"Hot lead for {task.get('owner') or 'the lead desk'}: {task.get('subject')}",
                    str(task.get("description") or ""),
                )
            if new:
                keep = [*sent, *(t["key"] for t in new)][-5000:]
                repo.save_cursor(session, "alerts:handoffs", {"keys": keep})

    # -- incidents ---------------------------------------------------------------

    def _incident(self, key: str, opened: bool, closed: bool, title: str, body: str) -> None:
        with self.factory() as session, session.begin():
            state = dict(repo.cursor(session, STATE_KEY) or {})
            if opened and key not in state:
                self._deliver(title, body)
                state[key] = title
            elif closed and key in state:
                del state[key]
                logger.info("alerts.resolved", incident=key)
            else:
                return
            repo.save_cursor(session, STATE_KEY, state)

    def _deliver(self, title: str, body: str) -> None:
        try:
            self.send(title, body)
            logger.warning("alerts.sent", title=title)
        except Exception as exc:  # an alert that cannot be sent must not stop the service
            logger.error("alerts.undelivered", title=title, error=str(exc))

    def _send(self, title: str, body: str) -> None:
        s = self.section
        if s.webhook_url is not None:
            url = s.webhook_url.get_secret_value()
            SEND.call(lambda: _post(url, {"text": f"*{title}*\n{body}"}), retriable=_network)
        if s.smtp_host is not None:
            SEND.call(lambda: self._mail(title, body), retriable=_network)

    def _mail(self, title: str, body: str) -> None:
        s = self.section
        message = EmailMessage()
        message["Subject"], message["From"] = title, s.email_from
        message["To"] = ", ".join(s.email_to)
        message.set_content(body)
        with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_password is not None:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(message)


def _network(error: BaseException) -> bool:
    """Worth another try: the network or the receiver (requests' and smtplib's errors are
    OSErrors), not a 4xx that says the URL is wrong."""
    if isinstance(error, requests.HTTPError):
        status = error.response.status_code if error.response is not None else 500
        return status >= 500 or status == 429
    return isinstance(error, OSError)


def _post(url: str, payload: dict[str, Any]) -> None:
    answer = requests.post(url, json=payload, timeout=TIMEOUT_SECONDS)
    answer.raise_for_status()
