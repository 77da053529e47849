"""The demo: a sample export synced into an in-process Salesforce emulator."""
