"""The emulated org's Lead object, described as Salesforce's describe call describes it.

Standard fields follow Salesforce's Lead (lengths, nillability, picklists);
the custom fields are the ones the demo and the real-file tests map onto.
"""

from __future__ import annotations

from typing import Any

LEAD_STATUS = [
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
]
LEAD_SOURCE = [
    "Web",
    "Phone Inquiry",
    "Partner Referral",
    "Purchased List",
    "Other",
    "Advertisement",
    "Employee Referral",
    "Trade Show",
    "Seminar - Internal",
    "Word of mouth",
]
INDUSTRY = [
    "Agriculture",
    "Banking",
    "Communications",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Finance",
    "Healthcare",
    "Insurance",
    "Manufacturing",
    "Media",
    "Retail",
    "Technology",
    "Telecommunications",
    "Other",
]


def _f(name: str, type_: str, label: str, length: int = 0, **kw: Any) -> dict[str, Any]:
    field = {
        "name": name,
        "label": label,
        "type": type_,
        "length": length,
        "nillable": True,
        "createable": True,
        "updateable": True,
        "defaultedOnCreate": False,
        "externalId": False,
        "unique": False,
        "custom": name.endswith("__c"),
        "calculated": False,
        "picklistValues": [],
        "restrictedPicklist": False,
        "precision": 0,
        "scale": 0,
        "digits": 0,
    }
    picklist = kw.pop("picklist", None)
    if picklist:
        field["picklistValues"] = [
            {
                "active": True,
                "defaultValue": i == 0 and kw.get("defaultedOnCreate", False),
                "label": v,
                "validFor": None,
                "value": v,
            }
            for i, v in enumerate(picklist)
        ]
    field.update(kw)
    return field


def _owner(*kinds: str) -> dict[str, Any]:
    """The record's owner: a reference to a User (or, on a Lead, a queue)."""
    return _f(
        "OwnerId",
        "reference",
        "Owner ID",
        18,
        nillable=False,
        defaultedOnCreate=True,
        referenceTo=list(kinds),
    )


def _opt_outs() -> list[dict[str, Any]]:
    """Whether the person may be emailed or called: on Leads and Contacts alike."""
    flags = {"nillable": False, "defaultedOnCreate": True}
    return [
        _f("HasOptedOutOfEmail", "boolean", "Email Opt Out", 0, **flags),
        _f("DoNotCall", "boolean", "Do Not Call", 0, **flags),
    ]


def _audit() -> list[dict[str, Any]]:
    """The times Salesforce keeps on every record."""
    return [
        _f("CreatedDate", "datetime", "Created Date", 0, **_SYSTEM),
        _f("LastModifiedDate", "datetime", "Last Modified Date", 0, **_SYSTEM),
        _f("SystemModstamp", "datetime", "System Modstamp", 0, **_SYSTEM),
    ]


_SYSTEM = {"createable": False, "updateable": False, "nillable": False, "defaultedOnCreate": True}

LEAD_FIELDS: list[dict[str, Any]] = [
    _f("Id", "id", "Lead ID", 18, **_SYSTEM),
    _f("LastName", "string", "Last Name", 80, nillable=False),
    _f("FirstName", "string", "First Name", 40),
    _f("Company", "string", "Company", 255, nillable=False),
    _f("Title", "string", "Title", 128),
    _f("Email", "email", "Email", 80),
    _f("Phone", "phone", "Phone", 40),
    _f("MobilePhone", "phone", "Mobile Phone", 40),
    _f("Website", "url", "Website", 255),
    _f("Street", "textarea", "Street", 255),
    _f("City", "string", "City", 40),
    _f("State", "string", "State/Province", 80),
    _f("PostalCode", "string", "Zip/Postal Code", 20),
    _f("Country", "string", "Country", 80),
    _f("LeadSource", "picklist", "Lead Source", 255, picklist=LEAD_SOURCE),
    _f(
        "Status",
        "picklist",
        "Lead Status",
        255,
        picklist=LEAD_STATUS,
        nillable=False,
        defaultedOnCreate=True,
        restrictedPicklist=True,
    ),
    _f("Industry", "picklist", "Industry", 255, picklist=INDUSTRY),
    _f("NumberOfEmployees", "int", "Employees", 0, digits=8),
    _f("AnnualRevenue", "currency", "Annual Revenue", 0, precision=18),
    _f("Description", "textarea", "Description", 32000),
    *_opt_outs(),
    _owner("User", "Group"),
    _f("IsConverted", "boolean", "Converted", 0, **_SYSTEM),
    _f(
        "ConvertedContactId",
        "reference",
        "Converted Contact ID",
        18,
        referenceTo=["Contact"],
        **(_SYSTEM | {"nillable": True, "defaultedOnCreate": False}),
    ),
    *_audit(),
    _f("Recycle_Date__c", "date", "Recycle Date", 0),
    _f("Rejection_Reason__c", "string", "Rejection Reason", 255),
    _f("LeadSync_Id__c", "string", "LeadSync Id", 36, externalId=True, unique=True),
    _f("Lead_Origin__c", "string", "Lead Origin", 100),
    _f("Total_Visits__c", "double", "Total Visits", 0, precision=18),
    _f("Time_On_Website__c", "double", "Time On Website (s)", 0, precision=18),
    _f("Last_Activity__c", "string", "Last Activity", 255),
    _f("Occupation__c", "string", "Occupation", 100),
    _f("Specialization__c", "string", "Specialization", 100),
    _f(
        "Marketing_Consent__c",
        "boolean",
        "Marketing Consent",
        0,
        nillable=False,
        defaultedOnCreate=True,
    ),
    _f("Lead_Score__c", "double", "Lead Score", 0, precision=18),
    _f(
        "Lifecycle_Stage__c",
        "picklist",
        "Lifecycle Stage",
        255,
        restrictedPicklist=True,
        picklist=["inquiry", "lead", "mql", "sal", "sql", "recycled", "disqualified"],
    ),
    _f("MQL_Date__c", "datetime", "MQL Date", 0),
]

TASK_FIELDS: list[dict[str, Any]] = [
    _f("Id", "id", "Activity ID", 18, **_SYSTEM),
    _f("Subject", "combobox", "Subject", 255),
    _f("ActivityDate", "date", "Due Date Only", 0),
    _f("ReminderDateTime", "datetime", "Reminder Date/Time", 0),
    _f("IsReminderSet", "boolean", "Reminder Set", 0, nillable=False, defaultedOnCreate=True),
    _f(
        "Status",
        "picklist",
        "Status",
        255,
        nillable=False,
        defaultedOnCreate=True,
        restrictedPicklist=True,
        picklist=["Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"],
    ),
    _f(
        "Priority",
        "picklist",
        "Priority",
        255,
        nillable=False,
        defaultedOnCreate=True,
        restrictedPicklist=True,
        picklist=["Normal", "High", "Low"],
    ),
    # Salesforce checks that WhoId names a Lead or Contact that exists.
    _f("WhoId", "reference", "Name ID", 18, referenceTo=["Lead", "Contact"]),
    _f(
        "OwnerId",
        "reference",
        "Assigned To ID",
        18,
        nillable=False,
        defaultedOnCreate=True,
        referenceTo=["User"],
    ),
    _f("Description", "textarea", "Comments", 32000),
    _f("IsClosed", "boolean", "Closed", 0, **_SYSTEM),
    *_audit(),
    _f("LeadSync_Key__c", "string", "LeadSync Key", 200, externalId=True, unique=True),
]

CAMPAIGN_FIELDS: list[dict[str, Any]] = [
    _f("Id", "id", "Campaign ID", 18, **_SYSTEM),
    _f("Name", "string", "Campaign Name", 80, nillable=False),
    _f("IsActive", "boolean", "Active", 0, nillable=False, defaultedOnCreate=True),
    *_audit(),
]

CAMPAIGN_MEMBER_FIELDS: list[dict[str, Any]] = [
    _f("Id", "id", "Campaign Member ID", 18, **_SYSTEM),
    _f(
        "CampaignId",
        "reference",
        "Campaign ID",
        18,
        nillable=False,
        referenceTo=["Campaign"],
        updateable=False,
    ),
    _f("LeadId", "reference", "Lead ID", 18, referenceTo=["Lead"], updateable=False),
    _f("ContactId", "reference", "Contact ID", 18, referenceTo=["Contact"], updateable=False),
    _f("Status", "picklist", "Status", 40, picklist=["Sent", "Responded"]),
    *_audit(),
    _f("LeadSync_Key__c", "string", "LeadSync Key", 200, externalId=True, unique=True),
]

CONTACT_FIELDS: list[dict[str, Any]] = [
    _f("Id", "id", "Contact ID", 18, **_SYSTEM),
    _f("LastName", "string", "Last Name", 80, nillable=False),
    _f("FirstName", "string", "First Name", 40),
    _f("Email", "email", "Email", 80),
    _f("Title", "string", "Title", 128),
    _f("Phone", "phone", "Business Phone", 40),
    *_opt_outs(),
    _owner("User"),
    *_audit(),
    _f("LeadSync_Key__c", "string", "LeadSync Key", 200, externalId=True, unique=True),
    _f("Lead_Score__c", "double", "Lead Score", 0, precision=18),
    _f("Lifecycle_Stage__c", "string", "Lifecycle Stage", 40),
]

USER_FIELDS: list[dict[str, Any]] = [
    _f("Id", "id", "User ID", 18, **_SYSTEM),
    _f("Username", "string", "Username", 80, nillable=False),
    _f("Name", "string", "Full Name", 121),
    _f("Email", "email", "Email", 128),
    _f("IsActive", "boolean", "Active", 0, nillable=False, defaultedOnCreate=True),
]

GROUP_FIELDS: list[dict[str, Any]] = [
    _f("Id", "id", "Group ID", 18, **_SYSTEM),
    _f("Name", "string", "Name", 40, nillable=False),
    _f("Type", "picklist", "Type", 40, picklist=["Queue", "Regular"]),
]

# The org's people, as the emulator starts: the integration user, three reps, one rep who
# left (inactive) and a queue. The demo routes to them.
DEMO_USERS: list[dict[str, Any]] = [
    {
        "Id": "0055g0000000001AAA",
        "Username": "demo@leadsync.example",
        "Name": "Integration User",
        "IsActive": True,
    },
    {
        "Id": "0055g00000000AnnAA",
        "Username": "ann@acme.example",
        "Name": "Ann Rep",
        "IsActive": True,
    },
    {"Id": "0055g00000000BoxAA", "Username": "bo@acme.example", "Name": "Bo Rep", "IsActive": True},
    {"Id": "0055g00000000CyxAA", "Username": "cy@acme.example", "Name": "Cy Rep", "IsActive": True},
    {
        "Id": "0055g00000000DskAA",
        "Username": "leaddesk@acme.example",
        "Name": "Lead Desk (sales manager)",
        "IsActive": True,
    },
    {
        "Id": "0055g00000000DeeAA",
        "Username": "dee@acme.example",
        "Name": "Dee (left)",
        "IsActive": False,
    },
]
DEMO_QUEUES: list[dict[str, Any]] = [
    {"Id": "00G5g00000000InbAA", "Name": "Inbound Queue", "Type": "Queue"},
]

# The campaign the demo nurtures into (the emulator creates it when it starts).
DEMO_CAMPAIGN: dict[str, Any] = {
    "Id": "7015g000000NurtAAA",
    "Name": "Nurture - monthly newsletter",
    "IsActive": True,
}

OBJECTS: dict[str, dict[str, Any]] = {
    "Lead": {"keyPrefix": "00Q", "label": "Lead", "labelPlural": "Leads", "fields": LEAD_FIELDS},
    "Task": {"keyPrefix": "00T", "label": "Task", "labelPlural": "Tasks", "fields": TASK_FIELDS},
    "Contact": {
        "keyPrefix": "003",
        "label": "Contact",
        "labelPlural": "Contacts",
        "fields": CONTACT_FIELDS,
    },
    "User": {"keyPrefix": "005", "label": "User", "labelPlural": "Users", "fields": USER_FIELDS},
    "Group": {
        "keyPrefix": "00G",
        "label": "Group",
        "labelPlural": "Groups",
        "fields": GROUP_FIELDS,
    },
    "Campaign": {
        "keyPrefix": "701",
        "label": "Campaign",
        "labelPlural": "Campaigns",
        "fields": CAMPAIGN_FIELDS,
    },
    "CampaignMember": {
        "keyPrefix": "00v",
        "label": "Campaign Member",
        "labelPlural": "Campaign Members",
        "fields": CAMPAIGN_MEMBER_FIELDS,
    },
}
