"""Salesforce as the CRM destination, through simple-salesforce."""

from leadsync.connectors.salesforce.destination import SalesforceDestination

__all__ = ["SalesforceDestination"]
