"""What the Marketo emulator's instance holds: the lead fields `describe` lists and the
activity types `activities/types.json` lists, with Marketo's standard ids and names."""

from __future__ import annotations

from typing import Any

# The REST API's demo credentials (a LaunchPoint custom service's client id and secret).
CLIENT_ID = "leadsync-demo-marketo-client"
CLIENT_SECRET = "demo-marketo-secret"
MUNCHKIN_ID = "123-ABC-456"

# Standard activity type ids, as every Marketo instance has them.
VISIT_WEBPAGE, FILL_OUT_FORM, CLICK_LINK = 1, 2, 3
SEND_EMAIL, EMAIL_DELIVERED, EMAIL_BOUNCED, UNSUBSCRIBE_EMAIL = 6, 7, 8, 9
OPEN_EMAIL, CLICK_EMAIL, NEW_LEAD, CHANGE_DATA_VALUE = 10, 11, 12, 13
CHANGE_SCORE, ADD_TO_LIST, MERGE_LEADS, DELETE_LEAD, INTERESTING_MOMENT = 22, 24, 32, 37, 46

_IP, _UA, _REF, _QUERY = "Client IP Address", "User Agent", "Referrer URL", "Query Parameters"


def _type(
    type_id: int, name: str, description: str, primary: str | None, *attributes: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": type_id, "name": name, "description": description}
    if primary:
        out["primaryAttribute"] = {"name": primary, "dataType": "integer"}
    out["attributes"] = [{"name": a, "dataType": "string"} for a in attributes]
    return out


TYPES: dict[int, dict[str, Any]] = {
    t["id"]: t
    for t in (
        _type(
            VISIT_WEBPAGE,
            "Visit Webpage",
            "User visits a web page",
            "Webpage ID",
            _IP,
            _QUERY,
            _REF,
            _UA,
            "Webpage URL",
        ),
        _type(
            FILL_OUT_FORM,
            "Fill Out Form",
            "User fills out and submits form on web page",
            "Webform ID",
            _IP,
            "Form Fields",
            _QUERY,
            _REF,
            _UA,
            "Webpage ID",
        ),
        _type(
            CLICK_LINK,
            "Click Link",
            "User clicks link on a page",
            "Link ID",
            _IP,
            _QUERY,
            _REF,
            _UA,
            "Webpage ID",
        ),
        _type(
            SEND_EMAIL,
            "Send Email",
            "Send Marketo Email to a person",
            "Mailing ID",
            "Campaign Run ID",
            "Step ID",
        ),
        _type(
            EMAIL_DELIVERED,
            "Email Delivered",
            "Marketo Email is delivered to a lead",
            "Mailing ID",
            "Campaign Run ID",
            "Step ID",
        ),
        _type(
            EMAIL_BOUNCED,
            "Email Bounced",
            "Marketo Email bounces",
            "Mailing ID",
            "Category",
            "Details",
            "Email",
        ),
        _type(
            UNSUBSCRIBE_EMAIL,
            "Unsubscribe Email",
            "Person unsubscribes from emails",
            "Mailing ID",
            _IP,
            "Form Fields",
            _UA,
        ),
        _type(
            OPEN_EMAIL,
            "Open Email",
            "User opens Marketo Email",
            "Mailing ID",
            "Device",
            "Is Mobile Device",
            "Platform",
            _UA,
        ),
        _type(
            CLICK_EMAIL,
            "Click Email",
            "User clicks on a link in a Marketo Email",
            "Mailing ID",
            "Device",
            "Is Mobile Device",
            "Link",
            "Platform",
            _UA,
        ),
        _type(
            NEW_LEAD,
            "New Lead",
            "New person/record is added to the lead database",
            None,
            "Source Type",
            "Form Name",
            "List Name",
        ),
        _type(
            CHANGE_DATA_VALUE,
            "Change Data Value",
            "Changed attribute value for a person",
            "Lead Field",
            "New Value",
            "Old Value",
            "Reason",
            "Source",
        ),
        _type(
            CHANGE_SCORE,
            "Change Score",
            "Changed score of a person",
            "Score Name",
            "Change Value",
            "New Value",
            "Old Value",
            "Reason",
        ),
        _type(ADD_TO_LIST, "Add to List", "Person is added to a list", "List ID", "Source"),
        _type(
            MERGE_LEADS,
            "Merge Leads",
            "Merge two or more people records",
            "Lead ID",
            "Merge ids",
            "Merged in Sales",
            "Merge Source",
            "Master Updated",
        ),
        _type(
            DELETE_LEAD,
            "Delete Lead",
            "Delete person from the lead database",
            "Lead ID",
            "Remove from CRM",
        ),
        _type(
            INTERESTING_MOMENT,
            "Interesting Moment",
            "An interesting moment for sales",
            None,
            "Type",
            "Description",
            "Source",
            "Date",
        ),
    )
}


def _field(field_id: int, name: str, label: str, kind: str, length: int | None = None) -> Any:
    spec: dict[str, Any] = {"id": field_id, "displayName": label, "dataType": kind}
    if length:
        spec["length"] = length
    spec["rest"] = {"name": name, "readOnly": name in ("id", "createdAt", "updatedAt")}
    spec["soap"] = {"name": label.replace(" ", ""), "readOnly": spec["rest"]["readOnly"]}
    return name, spec


FIELDS: dict[str, dict[str, Any]] = dict(
    _field(*spec)
    for spec in (
        (1, "id", "Id", "integer"),
        (2, "company", "Company Name", "string", 255),
        (3, "site", "Site", "string", 255),
        (4, "billingCountry", "Billing Country", "string", 255),
        (20, "email", "Email Address", "email", 255),
        (22, "firstName", "First Name", "string", 255),
        (24, "lastName", "Last Name", "string", 255),
        (25, "title", "Job Title", "string", 255),
        (26, "phone", "Phone Number", "phone", 255),
        (28, "country", "Country", "string", 255),
        (31, "leadSource", "Person Source", "string", 255),
        (32, "leadStatus", "Person Status", "string", 255),
        (33, "numberOfEmployees", "Num Employees", "integer"),
        (34, "industry", "Industry", "string", 255),
        (40, "unsubscribed", "Unsubscribed", "boolean"),
        (41, "leadScore", "Lead Score", "integer"),
        (42, "doNotCall", "Do Not Call", "boolean"),
        (50, "createdAt", "Created At", "datetime"),
        (51, "updatedAt", "Updated At", "datetime"),
    )
)
