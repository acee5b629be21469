"""Starting devhost for a simulation run: its log file and start-up failures."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation.host import LOG_FILE, HostFailed, start_host


async def test_failed_start_shows_only_this_runs_output(tmp_path: Path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    (state_dir / LOG_FILE).write_text("output of an earlier run\n")

    with pytest.raises(HostFailed) as raised:
        await start_host(tmp_path / "no-app", state_dir, 0, 0, {})

    assert "output of an earlier run" not in str(raised.value)
    assert "output of an earlier run" not in (state_dir / LOG_FILE).read_text()
