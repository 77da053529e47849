"""The command line: the group and the commands that run the pipeline (`main`), the
commands that inspect (`inspect`), the sandbox and demo (`sandbox`), and how results
are shown (`render`), and the always-on service (`service`)."""

from leadsync.cli import inspect, sandbox, service
from leadsync.cli.main import main

for command in (
    inspect.explain_command,
    inspect.preview_command,
    inspect.errors_group,
    inspect.status,
    sandbox.demo,
    sandbox.sandbox,
    service.run_command,
):
    main.add_command(command)

__all__ = ["main"]
