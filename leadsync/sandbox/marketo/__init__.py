"""The Marketo REST API emulator: leads, activities, Bulk Extract, Marketo's limits."""

from leadsync.sandbox.marketo.app import MarketoEmulator
from leadsync.sandbox.marketo.limits import Limits
from leadsync.sandbox.marketo.schema import CLIENT_ID, CLIENT_SECRET
from leadsync.sandbox.marketo.store import Store

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "Limits", "MarketoEmulator", "Store"]
