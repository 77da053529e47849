"""Salesforce's describe result as leadsync's ObjectSchema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadsync.connectors.base import FieldSpec, ObjectSchema


def parse_describe(body: Mapping[str, Any]) -> ObjectSchema:
    fields = {}
    for f in body.get("fields", []):
        fields[f["name"]] = FieldSpec(
            name=f["name"],
            type=f["type"],
            label=f.get("label", f["name"]),
            length=int(f.get("length") or 0),
            nillable=bool(f.get("nillable", True)),
            createable=bool(f.get("createable", True)),
            updateable=bool(f.get("updateable", True)),
            defaulted_on_create=bool(f.get("defaultedOnCreate", False)),
            external_id=bool(f.get("externalId", False)),
            unique=bool(f.get("unique", False)),
            picklist=tuple(
                p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)
            ),
            restricted_picklist=bool(f.get("restrictedPicklist", False)),
        )
    return ObjectSchema(name=body["name"], fields=fields)
