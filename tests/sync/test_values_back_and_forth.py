"""A person whose values go A, B, A within one run (the same person in pages read one
after another) still reaches the CRM with the last values: the change planned again
under a key superseded before is written, not lost."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Project, Sandbox
from tests.sync.test_feedback import SALESFORCE


def test_a_change_planned_again_after_it_was_superseded_is_written(
    sandbox: Sandbox, tmp_path: Path
):
    # One person under three source ids: VP, then CTO, then VP again, a page each.
    rows = "".join(
        f"{i},ann@x.example,Lee,{title},true\n" for i, title in enumerate(["VP", "CTO", "VP"])
    )
    (tmp_path / "leads.csv").write_text("id,email,last,title,consent\n" + rows, encoding="utf-8")
    config = SALESFORCE + "\n[sync]\nchunk_size = 1\n"
    (tmp_path / "config.toml").write_text(config, encoding="utf-8")
    summary = Project(tmp_path, tmp_path / "config.toml").sync()
    assert summary.error is None and summary.pending == 0
    (lead,) = [r for r in sandbox.records("Lead") if r.get("Email") == "ann@x.example"]
    assert lead["Title"] == "VP"
    tasks = [t for t in sandbox.records("Task") if t.get("WhoId") == lead["Id"]]
    assert len(tasks) == 1  # the MQL's one task, its lead written
