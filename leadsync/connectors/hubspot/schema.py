"""HubSpot property definitions as leadsync's neutral FieldSpec, for `check` and validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadsync.connectors.base import FieldSpec, ObjectSchema

# HubSpot (type, fieldType) -> the FieldSpec type `leadsync check` compares lead types with.
_TYPES = {
    "string": "string",
    "number": "double",
    "date": "date",
    "datetime": "datetime",
    "bool": "boolean",
    "phone_number": "phone",
}
# Every property value is a string to HubSpot: text takes any lead field; the others
# take the lead types HubSpot can read them as.
TEXT_KINDS = frozenset({"str", "email", "int", "float", "date", "datetime"})
ACCEPTS = {
    "double": frozenset({"int", "float"}),
    "boolean": frozenset({"bool"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date", "datetime"}),
    "picklist": TEXT_KINDS,
    "multipicklist": TEXT_KINDS,
}
_FIELD_TYPES = {"textarea": "textarea", "phonenumber": "phone", "html": "textarea"}


def field_type(prop: Mapping[str, Any]) -> str:
    kind = str(prop.get("type") or "string")
    shape = str(prop.get("field_type") or prop.get("fieldType") or "")
    if kind == "enumeration":
        if shape == "booleancheckbox":
            return "boolean"
        return "multipicklist" if shape == "checkbox" else "picklist"
    if kind == "string" and shape in _FIELD_TYPES:
        return _FIELD_TYPES[shape]
    return _TYPES.get(kind, "string")


def parse_properties(obj: str, properties: Sequence[Mapping[str, Any]]) -> ObjectSchema:
    """``GET /crm/v3/properties/{obj}`` (as the client's dicts or HubSpot's JSON) as a schema.

    Enumerations are restricted picklists (HubSpot refuses any other value); a
    contact's email and every ``hasUniqueValue`` property can identify a record."""
    fields = {}
    for prop in properties:
        name = str(prop["name"])
        meta = prop.get("modification_metadata") or prop.get("modificationMetadata") or {}
        read_only = bool(meta.get("read_only_value") or meta.get("readOnlyValue"))
        unique = bool(prop.get("has_unique_value") or prop.get("hasUniqueValue"))
        kind = field_type(prop)
        options = tuple(str(o["value"]) for o in prop.get("options") or [])
        fields[name] = FieldSpec(
            name=name,
            type=kind,
            label=str(prop.get("label") or name),
            createable=not read_only,
            updateable=not read_only,
            external_id=unique or (obj, name) == ("contacts", "email"),
            unique=unique or (obj, name) == ("contacts", "email"),
            picklist=options if kind in ("picklist", "multipicklist") else (),
            restricted_picklist=kind in ("picklist", "multipicklist"),
            accepts=ACCEPTS.get(kind, TEXT_KINDS),
            text=kind in ("string", "textarea", "phone", "picklist", "multipicklist"),
        )
    return ObjectSchema(name=obj, fields=fields, system="HubSpot")
