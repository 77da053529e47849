"""What the HubSpot emulator's portal holds before anyone writes: properties, owners, a list.

Property definitions follow ``GET /crm/v3/properties/{objectType}``: ``name``,
``label``, ``type`` (string, number, date, datetime, enumeration, bool,
phone_number), ``fieldType``, ``options`` for enumerations, ``hasUniqueValue``
and ``modificationMetadata.readOnlyValue``. The ``leadsync_*`` properties are
the custom ones an admin creates for leadsync (see config.example.toml).
"""

from __future__ import annotations

from typing import Any

# HubSpot's default lifecycle stages, in their order: a contact only moves forward
# unless the property is cleared first.
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)

# The demo portal's people: (id, email, first, last, archived).
OWNERS = (
    ("71000001", "lee.admin@leadsync.example", "Lee", "Admin", False),
    ("71000002", "ann.rep@leadsync.example", "Ann", "Rep", False),
    ("71000003", "bo.rep@leadsync.example", "Bo", "Rep", False),
    ("71000004", "cy.enterprise@leadsync.example", "Cy", "Enterprise", False),
    ("71000005", "dee.gone@leadsync.example", "Dee", "Gone", True),
)
NURTURE_LIST_ID = "1001"
PORTAL_ID = 24601


def _prop(
    name: str,
    type_: str = "string",
    field_type: str = "text",
    *,
    label: str = "",
    options: tuple[str, ...] = (),
    unique: bool = False,
    read_only: bool = False,
) -> dict[str, Any]:
    return {
        "name": name,
        "label": label or name.replace("_", " ").title(),
        "type": type_,
        "fieldType": field_type,
        "groupName": "contactinformation",
        "description": "",
        "options": [
            {"label": o.replace("_", " ").title(), "value": o, "displayOrder": i, "hidden": False}
            for i, o in enumerate(options)
        ],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": False,
        "hasUniqueValue": unique,
        "hidden": False,
        "hubspotDefined": not name.startswith("leadsync_"),
        "modificationMetadata": {
            "archivable": True,
            "readOnlyDefinition": True,
            "readOnlyValue": read_only,
        },
        "formField": not read_only,
        "createdAt": "2020-01-01T00:00:00Z",
        "updatedAt": "2024-01-01T00:00:00Z",
        "archived": False,
    }


def _owner_ids() -> tuple[str, ...]:
    return tuple(o[0] for o in OWNERS)


def contact_properties() -> list[dict[str, Any]]:
    return [
        _prop("email", field_type="text", label="Email"),
        _prop("firstname", label="First Name"),
        _prop("lastname", label="Last Name"),
        _prop("company", label="Company Name"),
        _prop("jobtitle", label="Job Title"),
        _prop("phone", "string", "phonenumber", label="Phone Number"),
        _prop("mobilephone", "string", "phonenumber", label="Mobile Phone Number"),
        _prop("website", label="Website URL"),
        _prop("industry", label="Industry"),
        _prop("city", label="City"),
        _prop("state", label="State/Region"),
        _prop("zip", label="Postal Code"),
        _prop("country", label="Country/Region"),
        _prop("annualrevenue", label="Annual Revenue"),
        _prop(
            "numemployees",
            "enumeration",
            "select",
            label="Number of Employees",
            options=("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+"),
        ),
        _prop("lifecyclestage", "enumeration", "radio", options=LIFECYCLE_STAGES),
        _prop("hs_lead_status", "enumeration", "radio", label="Lead Status", options=LEAD_STATUSES),
        _prop(
            "hubspot_owner_id", "enumeration", "select", label="Contact owner", options=_owner_ids()
        ),
        _prop(
            "hs_analytics_source",
            "enumeration",
            "select",
            read_only=True,
            options=(
                "ORGANIC_SEARCH",
                "PAID_SEARCH",
                "EMAIL_MARKETING",
                "SOCIAL_MEDIA",
                "REFERRALS",
                "OTHER_CAMPAIGNS",
                "DIRECT_TRAFFIC",
                "OFFLINE",
                "PAID_SOCIAL",
            ),
        ),
        _prop("message", "string", "textarea", label="Message"),
        _prop("createdate", "datetime", "date", label="Create Date", read_only=True),
        _prop("lastmodifieddate", "datetime", "date", label="Last Modified Date", read_only=True),
        _prop("hs_object_id", "number", "number", label="Record ID", read_only=True),
        _prop("recent_conversion_date", "datetime", "date", read_only=True),
        _prop("recent_conversion_event_name", read_only=True),
        _prop("hs_email_last_open_date", "datetime", "date", read_only=True),
        _prop("hs_email_last_click_date", "datetime", "date", read_only=True),
        _prop("hs_analytics_last_visit_timestamp", "datetime", "date", read_only=True),
        _prop("hs_email_optout", "bool", "booleancheckbox", label="Unsubscribed from all email"),
        _prop("date_of_birth", "date", "date", label="Date of birth"),
        _prop("leadsync_id", unique=True, label="leadsync id"),
        _prop("leadsync_score", "number", "number", label="leadsync score"),
        _prop("leadsync_stage", label="leadsync stage"),
        _prop("leadsync_mql_at", "datetime", "date", label="leadsync MQL date"),
        _prop("leadsync_consent", "bool", "booleancheckbox", label="Marketing consent"),
        _prop("leadsync_employees", "number", "number", label="Employees"),
    ]


def task_properties() -> list[dict[str, Any]]:
    return [
        _prop("hs_timestamp", "datetime", "date", label="Due date"),
        _prop("hs_task_subject", label="Task Title"),
        _prop("hs_task_body", "string", "html", label="Notes"),
        _prop(
            "hs_task_status",
            "enumeration",
            "select",
            options=("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
        ),
        _prop("hs_task_priority", "enumeration", "select", options=("LOW", "MEDIUM", "HIGH")),
        _prop("hs_task_type", "enumeration", "select", options=("TODO", "CALL", "EMAIL")),
        _prop(
            "hubspot_owner_id", "enumeration", "select", label="Assigned to", options=_owner_ids()
        ),
        _prop("hs_lastmodifieddate", "datetime", "date", read_only=True),
        _prop("hs_createdate", "datetime", "date", read_only=True),
        _prop("leadsync_key", unique=True, label="leadsync key"),
    ]


PROPERTIES = {"contacts": contact_properties, "tasks": task_properties}
# The property that holds each object's last modification time.
MODIFIED = {"contacts": "lastmodifieddate", "tasks": "hs_lastmodifieddate"}
CREATED = {"contacts": "createdate", "tasks": "hs_createdate"}
