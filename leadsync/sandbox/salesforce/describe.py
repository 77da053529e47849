"""``GET /sobjects/<name>/describe`` as Salesforce answers it, from the emulator's schema."""

from __future__ import annotations

from typing import Any

from leadsync.sandbox.salesforce.schema import OBJECTS


def describe(name: str, version: str) -> dict[str, Any]:
    """``GET /sobjects/<name>/describe`` in the shape Salesforce answers: every key of the
    DescribeSObjectResult schema (the fixtures' ``sobject-describe.schema.json``)."""
    obj = OBJECTS[name]
    return {
        "actionOverrides": [],
        "activateable": False,
        "childRelationships": [],
        "compactLayoutable": True,
        "createable": True,
        "custom": False,
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": name in ("Lead", "Contact"),
        "fields": [_described(f) for f in obj["fields"]],
        "hasSubtypes": False,
        "idEnabled": True,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj["keyPrefix"],
        "label": obj["label"],
        "labelPlural": obj["labelPlural"],
        "layoutable": True,
        "mergeable": name in ("Lead", "Contact"),
        "mruEnabled": True,
        "name": name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
            }
        ],
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "supportedScopes": [{"label": "All " + obj["labelPlural"].lower(), "name": "everything"}],
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urlDetail": None,
        "urlEdit": None,
        "urlNew": None,
    }


_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def _described(field: dict[str, Any]) -> dict[str, Any]:
    """A field as describe answers it: the keys the emulator keeps, and those Salesforce
    derives from the type (soapType, byteLength, filterable...)."""
    kind = field["type"]
    text = kind not in _SOAP_TYPES
    reference = kind == "reference"
    targets = field.get("referenceTo") or []
    return {
        **field,
        "aggregatable": kind not in ("textarea", "boolean"),
        "aiPredictionField": False,
        "autoNumber": False,
        "byteLength": field["length"] * 3 if text or reference or kind == "id" else 0,
        "caseSensitive": False,
        "deprecatedAndHidden": False,
        "filterable": kind != "textarea",
        "groupable": kind not in ("textarea", "double", "currency", "percent", "datetime"),
        "idLookup": kind == "id" or field.get("externalId", False) or kind == "email",
        "nameField": field["name"] == "Name",
        "permissionable": field["nillable"] and field["updateable"],
        "polymorphicForeignKey": reference and len(targets) > 1,
        "queryByDistance": False,
        "referenceTo": targets,
        "relationshipName": field["name"][:-2]
        if reference and field["name"].endswith("Id")
        else None,
        "searchPrefilterable": reference,
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": kind != "textarea",
    }
