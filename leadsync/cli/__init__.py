"""The command line: the group (`main`, each command imported when it runs), the
commands that run the pipeline (`pipeline`), the commands that inspect (`inspect`),
the sandbox and demo (`sandbox`), the always-on service (`service`), and how results
are shown (`render`)."""

from leadsync.cli.main import main

__all__ = ["main"]
