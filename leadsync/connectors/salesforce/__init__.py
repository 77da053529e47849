"""Salesforce as the CRM destination, through simple-salesforce."""

from leadsync.connectors.salesforce.connector import SalesforceDestination

__all__ = ["SalesforceDestination"]
