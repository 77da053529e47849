"""The command line: the group (`main`, each command imported when it runs), the
commands that run the pipeline (`pipeline`), the commands that inspect (`inspect`),
the sandbox and demo (`sandbox`), the always-on service (`service`), and how results
are shown (`render`)."""

import gc

from leadsync.cli.main import main

__all__ = ["main", "script"]


def script() -> None:
    """The `leadsync` program: `main` in a process that ends with it.

    The cyclic garbage collector is off while the program starts: the imports make some
    70,000 objects that live as long as the process, which a pass every 700 allocations
    walked again and again. Once the command's module is loaded, those objects are frozen
    (no later pass walks them) and the collector is on again (`LazyGroup.get_command`):
    0.05 s of a no-op sync's 0.63 (issue 13).

    A process about to exit has no use for Python's last garbage collections: they walk
    every object the imports made (SQLAlchemy's, pydantic's, ours) twice over, 0.1 s of
    a no-op sync's 0.7 (issue 13). Frozen, those objects are left to the exit, as the
    operating system takes back a process's memory anyway. What must happen on the way
    out still does: `atexit` handlers (logging's flush), the standard streams' flush,
    and every object freed by its last reference (files, the state db's connections).
    """
    gc.disable()
    try:
        main()
    finally:
        gc.freeze()
