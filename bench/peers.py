"""The peers' virtualenvs: each peer a benchmark runs beside leadsync (Singer taps,
drt-core) lives in a virtualenv of its own, made and filled on first use, so that its
dependencies never enter leadsync's (structlog, for one, imports rich when it is there)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def peer_python(venv: Path, requirement: str, module: str) -> Path | None:
    """The Python of ``venv`` with ``requirement`` installed (``module`` importable), or
    None when it cannot be installed (no package index): the peer's half is skipped."""
    python = venv / "bin" / "python"
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        found = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
        if found.returncode:
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", requirement], check=True, timeout=900
            )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"{requirement}: could not install it ({exc}); its half is skipped")
        return None
    return python
