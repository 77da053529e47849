"""leadsync: moves leads from marketing systems into the CRM and keeps the two in step."""

__version__ = "0.1.0"
