"""The built-in connectors pass the conformance suite every connector must pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsync.connectors.csv import CsvSource
from leadsync.connectors.marketo import MarketoSource
from leadsync.connectors.salesforce import SalesforceDestination
from leadsync.testing import DestinationConformance, SourceConformance
from tests.conftest import MarketoOrg, Sandbox


class TestCsvSource(SourceConformance):
    @pytest.fixture
    def source(self, tmp_path: Path) -> CsvSource:
        path = tmp_path / "leads.csv"
        rows = "".join(f'{i},lead{i}@x.example,"Note, {i}"\n' for i in range(7))
        path.write_text("id,email,note\n" + rows, encoding="utf-8")
        return CsvSource.from_options(
            "forms",
            {"path": str(path), "external_id": "id"},
            key="sources.forms",
            path=tmp_path / "config.toml",
        )


class TestSalesforceDestination(DestinationConformance):
    @pytest.fixture
    def destination(self, sandbox: Sandbox, tmp_path: Path) -> SalesforceDestination:
        options = {
            "sandbox_url": sandbox.url,
            "auth": {
                "username": "demo@leadsync.example",
                "password": "demo-password",
                "security_token": "demo-token",
            },
        }
        return SalesforceDestination.from_options(
            "crm", options, key="crm", path=tmp_path / "config.toml"
        )

    @pytest.fixture
    def new_records(self) -> list[dict]:
        return [
            {"LeadSync_Id__c": f"conformance-{i}", "LastName": f"Lee {i}", "Company": "Acme"}
            for i in range(3)
        ]


class TestMarketoSource(SourceConformance):
    @pytest.fixture
    def source(self, marketo: MarketoOrg, tmp_path: Path) -> MarketoSource:
        options = {
            "base_url": marketo.url,
            "client_id": marketo.marketo.client_id,
            "client_secret": marketo.marketo.client_secret,
            "rate_limit_per_20s": 100_000,
        }
        source = MarketoSource.from_options(
            "marketo", options, key="sources.marketo", path=tmp_path / "config.toml"
        )
        source.want({"email", "firstName", "lastName", "company"})
        return source
