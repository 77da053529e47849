"""The admin pages of `leadsync run`, clicked through in a real browser: headless Chromium
from Debian's packages, driven by Playwright's Python package pointed at it."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import insert, select

from leadsync.state import db
from leadsync.state.models import DeadLetter, Lead, OutboxOp, Quarantine, table
from tests.service import test_run_process as service_tests
from tests.service.test_run_process import wait_until

# The service tests' fixtures: the emulator in its own process, `leadsync run` in another.
emulator = service_tests.emulator
make_service = service_tests.make_service

CHROMIUM = "/usr/bin/chromium"
TOKEN = "admin-token-for-the-test"
REFUSAL = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
# As the machine's probe found: a closed network wants Chromium's own calls out turned off.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("LEADSYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(
                f"{CHROMIUM} missing and LEADSYNC_REQUIRE_BROWSER=1 (apt-get install chromium)"
            )
        pytest.skip("no Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


def dead_letter(url: str) -> None:
    """A follow-up task the CRM refused for good, as a push would have left it."""
    engine = db.make_engine(url)
    now = datetime.now(UTC)
    try:
        with engine.begin() as conn:
            lead_id = conn.execute(table(Lead).select().limit(1)).first().id
            op = conn.execute(
                insert(table(OutboxOp)).returning(table(OutboxOp).c.id),
                {"key": "task:refused", "destination": "crm", "kind": "task", "lead_id": lead_id,
                 "payload": {"subject": "Follow up"}, "status": "dead", "attempts": 1,
                 "created_at": now, "updated_at": now, "handoff": True},
            ).scalar_one()  # fmt: skip
            conn.execute(
                insert(table(DeadLetter)),
                {"op_id": op, "destination": "crm", "lead_id": lead_id, "code": REFUSAL,
                 "message": "Subject: too long for the org's rule", "fields": [],
                 "created_at": now},
            )  # fmt: skip
    finally:
        engine.dispose()


def quarantine_ids(url: str) -> list[tuple[int, str]]:
    """Each quarantined row's id and the run that set it aside (SQLite may give a row
    made after a delete the id of the row deleted)."""
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(select(Quarantine.id, Quarantine.run_id))]
    finally:
        engine.dispose()


def test_an_admin_logs_in_discards_a_dead_letter_and_finds_a_lead(
    make_service, browser, tmp_path: Path
) -> None:
    """Login refuses a wrong token; the overview shows the jobs, the funnel, the owners, the
    dead letters and the quarantine; Discard (a POST with the session's CSRF token) drops
    each, Retry has the source's sync map a quarantined record again; a lead found by email
    is shown at its leadsync key, never its email, in the URL."""
    rows = "1,a@x.example,Ames,VP\n2,b@x.example,Bee,Intern\n3,,Nobody,VP\n"  # 3: no email
    service = make_service(rows=rows)
    service.env["LEADSYNC_ADMIN_TOKEN"] = TOKEN
    service.start()
    wait_until(lambda: len(service.emails()) == 2, 30, "the export's two leads in the CRM")
    dead_letter(service.env["LEADSYNC_STATE_URL"])

    page = browser.new_page()
    page.goto(f"{service.url}/admin")
    assert page.url.endswith("/admin/login")
    page.fill("input[name=token]", "not the token")
    page.click("button:has-text('Log in')")
    assert "That is not the admin token." in page.inner_text("[role=alert]")
    page.fill("input[name=token]", TOKEN)
    page.click("button:has-text('Log in')")
    assert page.url.endswith("/admin")
    text = page.inner_text("body")
    assert "export" in text and "Funnel, the last 30 days" in text
    assert "Ann Rep" in text  # the owner by name
    assert REFUSAL in text
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    page.click("button:has-text('Discard')")
    assert f"{REFUSAL}: 1 discarded for good" in page.inner_text("[role=status]")
    dead = page.inner_text("body").split("Dead letters")[1].split("Quarantined")[0]
    assert REFUSAL not in dead and "None." in dead
    quarantined = page.inner_text("body").split("Quarantined records")[1]
    assert "export" in quarantined and "email" in quarantined  # row 3, its field named
    before = quarantine_ids(service.env["LEADSYNC_STATE_URL"])
    page.click("form[action='/admin/quarantine'] button:has-text('Retry')")
    assert "mapped again at that source's next sync" in page.inner_text("[role=status]")
    # The source's sync, woken, maps it again: still no email, quarantined anew.
    wait_until(
        lambda: quarantine_ids(service.env["LEADSYNC_STATE_URL"]) not in ([], before),
        30,
        "the retried record back in the quarantine",
    )
    page.goto(f"{service.url}/admin")
    page.click("form[action='/admin/quarantine'] button:has-text('Discard')")
    assert "1 quarantined record discarded" in page.inner_text("[role=status]")
    assert quarantine_ids(service.env["LEADSYNC_STATE_URL"]) == []

    page.fill("input[name=who]", "a@x.example")
    page.click("button:has-text('Find')")
    assert re.search(r"/admin/lead/[0-9a-f-]{36}$", page.url) and "x.example" not in page.url
    assert "<a@x.example>" in page.inner_text("pre")

    # An action without the session's CSRF token is refused, cookie or not.
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    forged = requests.post(
        f"{service.url}/admin/dead-letters",
        data={"action": "retry", "reason": REFUSAL},
        cookies=cookies,
        timeout=10,
        allow_redirects=False,
    )
    assert forged.status_code == 403


def test_no_token_no_pages(make_service) -> None:
    """Without LEADSYNC_ADMIN_TOKEN the pages are off, and say how to turn them on."""
    service = make_service()
    service.env.pop("LEADSYNC_ADMIN_TOKEN", None)
    service.start()
    answer = requests.get(f"{service.url}/admin", timeout=10)
    assert answer.status_code == 404 and "LEADSYNC_ADMIN_TOKEN" in answer.text
