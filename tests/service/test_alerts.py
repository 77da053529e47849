"""Alerts go once per incident, to a real HTTP receiver (Slack's and Teams' JSON) and a
real SMTP conversation, with what to do; a receiver that fails is retried, then given up
without stopping the service."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.wrappers import Request, Response

from leadsync import config as cfg
from leadsync.retry import RetryPolicy
from leadsync.sandbox.server import running
from leadsync.service.alerts import Alerts
from leadsync.state import db
from leadsync.sync.summary import RunSummary


class Receiver:
    """An incoming-webhook endpoint that records what it was sent (and can fail)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.fail_next = 0

    def __call__(self, environ, start_response):
        request = Request(environ)
        if self.fail_next:
            self.fail_next -= 1
            return Response("busy", 503)(environ, start_response)
        self.received.append(request.get_json())
        return Response("ok", 200)(environ, start_response)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    with running(app) as url:
        yield app, url


def alerts_for(tmp_path: Path, section: str) -> Alerts:
    path = tmp_path / "alerts.toml"
    path.write_text(
        "[sources.a]\ntype='csv'\npath='a.csv'\n[crm]\ntype='salesforce'\n" + section, "utf-8"
    )
    config = cfg.load(path, state_url=f"sqlite:///{tmp_path / 'state.db'}")
    engine = db.make_engine(config.state_url)
    db.upgrade(engine)
    assert config.settings.alerts is not None
    return Alerts(config.settings.alerts, engine, "salesforce")


def failed(error: str, kind: str = "ConnectorError", calls: int = 1) -> RunSummary:
    summary = RunSummary(run_id="r", error=error, api_calls=calls)
    summary.error_kind = kind
    return summary


def test_a_job_failing_twice_alerts_once_until_it_succeeds(tmp_path, receiver, monkeypatch):
    app, url = receiver
    monkeypatch.setenv("HOOK", f"{url}/hook")
    alerts = alerts_for(tmp_path, '[alerts]\nwebhook_url = "${HOOK}"\n')
    ok = RunSummary(run_id="r", api_calls=3)
    alerts.after_job("sync:web", "failed", failed("503 from the CRM"), 1, "503", 0, 0.1)
    assert app.received == []
    for n in (2, 3, 4):  # the incident stays open: one alert
        alerts.after_job("sync:web", "failed", failed("503 from the CRM"), n, "503", 0, 0.1)
    assert len(app.received) == 1
    text = app.received[0]["text"]
    assert "sync:web failed 2 times in a row" in text and "What to do" in text
    alerts.after_job("sync:web", "ok", ok, 0, None, 0, 0.1)  # closed
    alerts.after_job("sync:web", "failed", failed("503"), 1, "503", 0, 0.1)
    alerts.after_job("sync:web", "failed", failed("503"), 2, "503", 0, 0.1)
    assert len(app.received) == 2  # a new incident


def test_login_refused_dead_letters_and_quota_each_alert_once(tmp_path, receiver, monkeypatch):
    app, url = receiver
    monkeypatch.setenv("HOOK", f"{url}/hook")
    alerts = alerts_for(
        tmp_path,
        '[alerts]\nwebhook_url = "${HOOK}"\ndead_letters_over = 10\nquota_used_over = 0.8\n',
    )
    refused = failed("INVALID_LOGIN: bad password", "AuthenticationError")
    for _ in range(3):
        alerts.after_job("feedback", "failed", refused, 1, refused.error, 11, 0.85)
    titles = sorted(m["text"].split("\n")[0] for m in app.received)
    assert titles == [
        "*leadsync: 11 writes the CRM refused for good*",
        "*leadsync: 85% of salesforce's daily API quota is used*",
        "*leadsync: salesforce refuses leadsync's login*",
    ]
    # a restart (a new Alerts on the same state db) does not repeat open incidents
    again = alerts_for(tmp_path, '[alerts]\nwebhook_url = "${HOOK}"\ndead_letters_over = 10\n')
    again.after_job("feedback", "failed", refused, 1, refused.error, 11, 0.85)
    assert len(app.received) == 3


def test_a_failing_receiver_is_retried_then_given_up(tmp_path, receiver, monkeypatch):
    app, url = receiver
    monkeypatch.setenv("HOOK", f"{url}/hook")
    monkeypatch.setattr("leadsync.service.alerts.SEND", RetryPolicy(3, 0.01, 0.05, 5))
    alerts = alerts_for(tmp_path, '[alerts]\nwebhook_url = "${HOOK}"\n')
    app.fail_next = 2  # two 503s, then it answers
    alerts.after_job("sync:web", "failed", failed("x"), 2, "x", 0, None)
    assert len(app.received) == 1
    app.fail_next = 10  # down for good: logged, not raised
    alerts.after_job("feedback", "failed", failed("y"), 2, "y", 0, None)
    assert len(app.received) == 1


class FakeSmtp(socketserver.StreamRequestHandler):
    """Enough of SMTP (RFC 5321) for smtplib to send one message: EHLO, MAIL, RCPT, DATA."""

    messages: list[str] = []

    def handle(self) -> None:
        self.wfile.write(b"220 fake ESMTP\r\n")
        while line := self.rfile.readline():
            verb = line.decode().strip().upper()
            if verb.startswith("EHLO"):
                self.wfile.write(b"250 fake\r\n")
            elif verb.startswith("DATA"):
                self.wfile.write(b"354 go on\r\n")
                data = []
                while (part := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(part.decode())
                FakeSmtp.messages.append("".join(data))
                self.wfile.write(b"250 queued\r\n")
            elif verb.startswith("QUIT"):
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_email_alerts_go_by_smtp(tmp_path):
    FakeSmtp.messages = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), FakeSmtp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        alerts = alerts_for(
            tmp_path,
            f'[alerts]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_starttls = false\n'
            'email_from = "leadsync@acme.example"\nemail_to = ["revops@acme.example"]\n',
        )
        alerts.after_job("sync:web", "failed", failed("boom"), 2, "boom", 0, None)
    finally:
        server.shutdown()
        server.server_close()
    [message] = FakeSmtp.messages
    assert "Subject: leadsync: the job sync:web failed 2 times in a row" in message
    assert "To: revops@acme.example" in message and "What to do" in message


def test_alerts_need_a_channel(tmp_path):
    with pytest.raises(cfg.ConfigError, match="give webhook_url or smtp_host"):
        alerts_for(tmp_path, "[alerts]\nfailures_in_row = 3\n")
