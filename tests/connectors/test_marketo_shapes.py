"""The Marketo emulator answers in the shapes Marketo documents (tests/fixtures/marketo),
and the connector reads those documented answers, errors included."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from leadsync.connectors.marketo import MarketoSource
from leadsync.connectors.marketo.errors import TokenRefused, from_code, quota_resets
from leadsync.connectors.marketo.schema import event_of
from leadsync.errors import ConnectorError, RateLimited
from leadsync.sandbox.marketo.schema import FILL_OUT_FORM
from tests.conftest import FIXTURES, MarketoOrg

SHAPES = FIXTURES / "marketo"


def documented(name: str) -> Any:
    return json.loads((SHAPES / f"{name}.json").read_text(encoding="utf-8"))


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None if value is None else type(value).__name__


def agrees(doc: Any, ours: Any, where: str = "") -> list[str]:
    """Where the emulator's answer lacks a key the documentation shows, or gives it
    another type (a documented null or empty list says nothing of the type)."""
    if doc is None or doc == [] or ours is None:
        return []
    if isinstance(doc, dict):
        if not isinstance(ours, dict):
            return [f"{where}: an object in the documentation"]
        out = [f"{where}.{k}: missing" for k in doc if k not in ours]
        return out + [p for k in doc if k in ours for p in agrees(doc[k], ours[k], f"{where}.{k}")]
    if isinstance(doc, list):
        return agrees(doc[0], ours[0], f"{where}[0]") if ours else [f"{where}: empty"]
    return [] if doc == ours else [f"{where}: {ours} where the documentation has {doc}"]


class Api:
    def __init__(self, org: MarketoOrg) -> None:
        self.url = org.url
        token = requests.post(
            f"{org.url}/identity/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": org.marketo.client_id,
                "client_secret": org.marketo.client_secret,
            },
            timeout=10,
        )
        self.token = token.json()
        self.headers = {"Authorization": f"Bearer {self.token['access_token']}"}

    def get(self, path: str, **params: Any) -> Any:
        return requests.get(self.url + path, params=params, headers=self.headers, timeout=10).json()

    def post(self, path: str, body: Any = None) -> Any:
        answer = requests.post(self.url + path, json=body, headers=self.headers, timeout=10)
        return answer.json()


@pytest.fixture
def api(marketo: MarketoOrg) -> Api:
    return Api(marketo)


def test_the_emulators_answers_have_the_documented_shapes(api: Api, marketo: MarketoOrg):
    start = api.get("/rest/v1/activities/pagingtoken.json", sinceDatetime="2000-01-01T00:00:00Z")
    token = start["nextPageToken"]
    marketo.do(op="delete", lead=7, at="2026-11-23T11:00:00Z")
    answers = {
        "identity_token": api.token,
        "paging_token": start,
        "activity_types": api.get("/rest/v1/activities/types.json"),
        "activities": api.get("/rest/v1/activities.json", nextPageToken=token, activityTypeIds="1"),
        "lead_changes": api.get(
            "/rest/v1/activities/leadchanges.json", nextPageToken=token, fields="firstName,email"
        ),
        "deleted_leads": api.get("/rest/v1/activities/deletedleads.json", nextPageToken=token),
        "leads": api.get("/rest/v1/leads.json", filterType="id", filterValues="1,2"),
        "describe": api.get("/rest/v1/leads/describe.json"),
    }
    # The documentation shows one field: compared with the same field here.
    fields = answers["describe"]["result"]
    answers["describe"]["result"] = [f for f in fields if f["rest"]["name"] == "company"]
    window = {"startAt": "2026-10-01T00:00:00Z", "endAt": "2026-10-31T00:00:00Z"}
    created = api.post(
        "/bulk/v1/leads/export/create.json",
        {"fields": ["id", "email"], "format": "CSV", "filter": {"createdAt": window}},
    )
    answers["export_create"] = created
    job = created["result"][0]["exportId"]
    api.post(f"/bulk/v1/leads/export/{job}/enqueue.json")
    for _ in range(3):
        answers["export_status"] = api.get(f"/bulk/v1/leads/export/{job}/status.json")
    assert answers["export_status"]["result"][0]["status"] == "Completed"
    for name, ours in answers.items():
        assert agrees(shape(documented(name)), shape(ours), name) == []


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("session_expired:requests=1", "602"),
        ("429:requests=1", "606"),
        ("request_limit:requests=1", "607"),
    ],
)
def test_the_emulators_refusals_have_the_documented_shape(
    api: Api, marketo: MarketoOrg, fault: str, code: str
):
    marketo.faults(fault)
    answer = api.get("/rest/v1/activities/types.json")
    doc = documented(f"error_{code}")
    assert shape(answer) == shape(doc)
    assert answer["errors"][0] == doc["errors"][0]


def test_the_documented_errors_are_classified():
    def error(code: str) -> Exception:
        body = documented(f"error_{code}")["errors"][0]
        return from_code(body["code"], body["message"], rate_wait=20.0)

    assert isinstance(error("602"), TokenRefused)
    assert isinstance(error("606"), RateLimited) and error("606").retry_after == 20.0
    assert isinstance(error("615"), RateLimited)
    quota = error("607")
    assert type(quota) is ConnectorError and quota.disposition == "fatal"
    assert "2026-11-24 06:00 UTC" in str(quota)  # the test clock: 2026-11-23 12:00 UTC
    exports = error("1029")
    assert type(exports) is ConnectorError and "Bulk Extract quota" in str(exports)
    queue_full = from_code("1029", "Too many jobs (10) in queue")
    assert isinstance(queue_full, RateLimited)


def test_marketos_day_ends_at_midnight_us_central_summer_and_winter():
    from datetime import UTC, datetime

    assert quota_resets(datetime(2026, 7, 1, 12, tzinfo=UTC)) == datetime(2026, 7, 2, 5, tzinfo=UTC)
    assert quota_resets(datetime(2026, 12, 1, 12, tzinfo=UTC)) == datetime(
        2026, 12, 2, 6, tzinfo=UTC
    )


def test_a_documented_activity_becomes_an_event():
    activity = documented("activities")["result"][0]
    event = event_of(activity, "page_view")
    assert event["key"] == "102988" and event["type"] == "page_view"
    assert event["at"].isoformat() == "2023-01-16T23:32:19+00:00"
    assert event["attributes"]["asset"] == "localhost/munchkintest2.html"
    assert event["attributes"]["webpage_url"] == "/munchkintest2.html"


def test_refused_credentials_and_unknown_types_are_said_plainly(
    marketo: MarketoOrg, tmp_path: Path
):
    def source(**options: Any) -> MarketoSource:
        base = {
            "base_url": marketo.url,
            "client_id": marketo.marketo.client_id,
            "client_secret": marketo.marketo.client_secret,
            **options,
        }
        return MarketoSource.from_options(
            "marketo", base, key="sources.marketo", path=tmp_path / "config.toml"
        )

    (problem,) = source(client_secret="wrong").check()
    assert "Marketo refused the client id and secret" in problem and "wrong" not in problem
    (problem,) = source(activity_types=["Fill Out Formm"]).check()
    assert "no activity type 'Fill Out Formm'" in problem and "'Fill Out Form'" not in problem
    assert "Fill Out Form" in problem  # the known names are listed
    assert source().check() == []
    assert FILL_OUT_FORM in source().event_types()


def test_a_token_is_renewed_in_its_last_minute_once_not_before_every_call(
    marketo: MarketoOrg, tmp_path: Path
):
    from leadsync.connectors.calls import CallCounter
    from leadsync.connectors.marketo.client import MarketoApi
    from leadsync.connectors.marketo.config import MarketoSourceConfig

    config = MarketoSourceConfig(
        base_url=marketo.url,
        client_id=marketo.marketo.client_id,
        client_secret=marketo.marketo.client_secret,
    )
    counter = CallCounter()
    api = MarketoApi(config, counter)
    marketo.marketo.token_seconds = 61  # in its last minute a second from now
    api.get("types", "/rest/v1/activities/types.json", {})
    time.sleep(1.1)
    for _ in range(5):
        api.get("types", "/rest/v1/activities/types.json", {})
    # Asked again once in its last minute (Marketo gave the same token back), then used.
    assert counter.by_name["token"] == 2 and counter.by_name["types"] == 6
    marketo.marketo.token_seconds = 1
    marketo.do(op="expire_tokens")
    api.get("types", "/rest/v1/activities/types.json", {})  # 602, a new token, again
    time.sleep(1.1)
    api.get("types", "/rest/v1/activities/types.json", {})  # expired by now: asked first
    assert counter.by_name["token"] == 4 and counter.retried == 1
    api.close()


def test_check_names_a_mapped_field_marketo_lacks(marketo: MarketoOrg, tmp_path: Path):
    from leadsync.ops.check import run_check

    project = marketo.project(tmp_path)
    text = project.config_path.read_text(encoding="utf-8")
    project.config_path.write_text(text.replace('from = "firstName"', 'from = "firstNme"'))
    report = run_check(project.config_path, state_url=project.state_url, connect=False)
    (problem,) = [e for e in report.errors if "sources.marketo" in e]
    assert (
        "column 'firstNme' is not in Marketo's lead fields (did you mean 'firstName'?)" in problem
    )
