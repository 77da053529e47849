"""The Salesforce emulator."""

from leadsync.sandbox.faults import FaultPlan
from leadsync.sandbox.salesforce.app import Credentials, SalesforceEmulator
from leadsync.sandbox.salesforce.store import Store, ValidationRule

# A config's [crm] for the emulator at ${SANDBOX_URL}, logging in with its demo user from
# the environment (``login_env``); a test, benchmark or demo adds its own [crm.fields].
CRM_SECTION = """
[crm]
type = "salesforce"
sandbox_url = "${SANDBOX_URL}"
[crm.auth]
username = "${SF_USERNAME}"
password = "${SF_PASSWORD}"
security_token = "${SF_SECURITY_TOKEN}"
"""


def login_env(url: str) -> dict[str, str]:
    """The environment ``CRM_SECTION`` reads: the emulator's URL and demo user."""
    c = Credentials()
    return {
        "SANDBOX_URL": url,
        "SF_USERNAME": c.username,
        "SF_PASSWORD": c.password,
        "SF_SECURITY_TOKEN": c.security_token,
    }


__all__ = [
    "CRM_SECTION",
    "Credentials",
    "FaultPlan",
    "SalesforceEmulator",
    "Store",
    "ValidationRule",
    "login_env",
]
