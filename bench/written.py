"""Bytes written to storage, as `scale.py` counts a state db's: this process's own (a
SQLite state db's), or a PostgreSQL server's, by its own count and by the kernel's."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def io_written() -> int:
    """Bytes this process sent to storage so far (the kernel's count): SQLite's writes."""
    return _io("self")["write_bytes"]


def _io(pid: int | str) -> dict[str, int]:
    """A process's I/O counters (``/proc/<pid>/io``)."""
    with open(f"/proc/{pid}/io", encoding="ascii") as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}


def server_written(engine: Any) -> tuple[int, int | None]:
    """Bytes a PostgreSQL server wrote so far, after a checkpoint, counted two ways.

    By its own count: the WAL it generated (by its insert position: `pg_stat_wal` lags
    a backend's last statements) and the data pages its checkpointer, background writer
    and backends wrote, 8 KiB each (a backend's count includes each page it adds to a
    table, written as zeros first). By the kernel's, as a SQLite state db's are counted:
    its processes' ``write_bytes`` less ``cancelled_write_bytes``, the exited ones summed
    in the postmaster that reaped them; this one also sees an index build's pages, which
    bypass the shared buffers, and each new WAL segment written as zeros first. None
    when the server's processes are not this machine's to read."""
    from sqlalchemy import text

    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        wal = conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar()
        pages = conn.execute(
            text(
                "SELECT buffers_checkpoint + buffers_clean + buffers_backend FROM pg_stat_bgwriter"
            )
        ).scalar()
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    return int(wal) + int(pages) * 8192, _tree_written(int(backend))


def _tree_written(backend: int) -> int | None:
    """The kernel's bytes written by the postmaster of this backend and its children."""

    def parent(pid: int) -> int:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])

    def written(pid: int) -> int:
        fields = _io(pid)
        return fields["write_bytes"] - fields["cancelled_write_bytes"]

    try:
        postmaster = parent(backend)
        total = written(postmaster)
    except OSError:
        return None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if parent(int(entry.name)) == postmaster:
                    total += written(int(entry.name))
            except OSError:
                continue  # exited meanwhile: counted in the postmaster
    return total
