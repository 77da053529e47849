"""`python -m leadsync`: the same command line as the `leadsync` script."""

from leadsync.cli import main

main()
