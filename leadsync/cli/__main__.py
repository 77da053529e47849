"""`python -m leadsync.cli`: the command line, as the `leadsync` script runs it."""

from leadsync.cli import script

script()
