"""Salesforce's describe result as leadsync's ObjectSchema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leadsync.connectors.base import FieldSpec, ObjectSchema

# Salesforce's field types that hold text, and the types that take a value of each
# canonical lead type.
TEXT = frozenset(
    {
        "string",
        "textarea",
        "email",
        "phone",
        "url",
        "picklist",
        "multipicklist",
        "combobox",
        "encryptedstring",
    }
)
TAKES = {
    "str": TEXT | {"reference", "id"},
    "email": TEXT,
    "int": {"int", "double", "currency", "percent"} | TEXT,
    "float": {"double", "currency", "percent"} | TEXT,
    "bool": {"boolean"},
    "date": {"date", "datetime"} | TEXT,
    "datetime": {"datetime"} | TEXT,
}


def accepts(sf_type: str) -> frozenset[str]:
    """The lead field types whose values a field of this Salesforce type takes."""
    return frozenset(kind for kind, types in TAKES.items() if sf_type in types)


def parse_describe(body: Mapping[str, Any]) -> ObjectSchema:
    fields = {}
    for f in body.get("fields", []):
        createable, nillable = bool(f.get("createable", True)), bool(f.get("nillable", True))
        defaulted = bool(f.get("defaultedOnCreate", False))
        fields[f["name"]] = FieldSpec(
            name=f["name"],
            type=f["type"],
            label=f.get("label", f["name"]),
            length=int(f.get("length") or 0),
            nillable=nillable,
            createable=createable,
            updateable=bool(f.get("updateable", True)),
            defaulted_on_create=defaulted,
            external_id=bool(f.get("externalId", False)),
            unique=bool(f.get("unique", False)),
            picklist=tuple(
                p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)
            ),
            restricted_picklist=bool(f.get("restrictedPicklist", False)),
            accepts=accepts(f["type"]),
            text=f["type"] in TEXT,
            # Salesforce's rule: createable, not nillable, no default, and not a checkbox.
            required=createable and not nillable and not defaulted and f["type"] != "boolean",
        )
    return ObjectSchema(name=body["name"], fields=fields, system="Salesforce")
