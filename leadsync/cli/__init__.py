"""The command line: the group and pipeline commands (`main`), the commands that inspect
(`inspect`), the sandbox and demo (`sandbox`), and how results are shown (`render`)."""

from leadsync.cli.main import main

__all__ = ["main"]
