"""The Salesforce emulator."""

from leadsync.sandbox.faults import FaultPlan
from leadsync.sandbox.salesforce.app import Credentials, SalesforceEmulator
from leadsync.sandbox.salesforce.store import Store, ValidationRule

__all__ = ["Credentials", "FaultPlan", "SalesforceEmulator", "Store", "ValidationRule"]
