"""A throwaway PostgreSQL server from the local binaries (Debian's `postgresql`
package): started on a free port in a temporary folder, stopped and removed after.
The tests' PostgreSQL state and `bench/scale.py --postgres local` run on it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    """The folder of `pg_ctl` and `initdb`: on the PATH, else Debian's newest."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "pg_ctl").exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def throwaway_server(bindir: Path, deadline_seconds: float = 30) -> Iterator[str]:
    """A server for user `leadsync` (trust auth, 127.0.0.1 only); yields the URL of its
    `postgres` database."""
    data = Path(tempfile.mkdtemp(prefix="leadsync-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    init = [str(bindir / "initdb"), "-D", str(data / "db"), "-U", "leadsync", "--auth=trust"]
    subprocess.run([*as_user, *init, "-E", "UTF8"], check=True, capture_output=True)
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    ctl = [str(bindir / "pg_ctl"), "-D", str(data / "db")]
    start = [*ctl, "-w", "-l", str(data / "log"), "-o", options, "start"]
    subprocess.run([*as_user, *start], check=True, capture_output=True)
    try:
        deadline = time.monotonic() + deadline_seconds
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"postgresql://leadsync@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, *ctl, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
