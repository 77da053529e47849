"""The forms inbox: CMS forms and landing pages post to `leadsync run`."""

from leadsync.connectors.webhook.source import WebhookSource

__all__ = ["WebhookSource"]
