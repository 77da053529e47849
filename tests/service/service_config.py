"""The config the service tests share: a forms inbox and a CSV export, both into the
Salesforce emulator; a VP qualifies and gets a follow-up task."""

from leadsync.sandbox.salesforce import CRM_SECTION

FORMS_SECRET = "whsec-service-test"

SERVICE = (
    """
[sources.site]
type = "webhook"
secret = "${FORMS_SECRET}"

[sources.site.fields]
email = { from = "email", transforms = ["email"], required = true }
last_name = "last_name"
title = "title"

[sources.site.event]
type = "form_submit"

[sources.export]
type = "csv"
path = "leads.csv"
external_id = "id"
settle_seconds = 0
schedule = "%(csv_schedule)s"

[sources.export.fields]
email = { from = "email", required = true }
last_name = "last"
title = "title"

[scoring]
[[scoring.rules]]
name = "vp"
category = "fit"
when = 'title == "VP"'
points = 100

[lifecycle.mql]
total = 50

[tasks]
subject = "Follow up: $last_name"
due_in_hours = 24

[routing]
fallback_owner = "0055g00000000AnnAA"

[service]
form_batch_seconds = %(batch)s
shutdown_grace_seconds = 20

"""
    + CRM_SECTION
    + """[crm.fields]
Email = "email"
LastName = "last_name"
Company = { from = "title", transforms = [{ default = "[none]" }] }
Title = "title"
OwnerId = "owner"
Lifecycle_Stage__c = "stage"

[sync]
backoff_initial_seconds = 0.01
backoff_max_seconds = 0.2
"""
)


def service_config(csv_schedule: str = "1h", batch: float = 0.05) -> str:
    return SERVICE % {"csv_schedule": csv_schedule, "batch": batch}
