"""Options of `devhost start` that choose between one host and several."""

from __future__ import annotations

import argparse
import sys

import pytest

from devhost import start


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    start.register(parser.add_subparsers())
    return parser.parse_args(["start", *argv])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="workers are Linux-only")
def test_episode_workers_default_shares_cpus_over_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(start.os, "cpu_count", lambda: 4)

    assert start.default_episode_workers(1) == 4
    assert start.default_episode_workers(2) == 2
    assert start.default_episode_workers(8) == 1


def test_processes_default_to_one() -> None:
    assert _parse().processes == 1


def test_processes_below_one_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse("--processes", "0")

    assert "0 is not a whole number of 1 or more" in capsys.readouterr().err


def test_partition_lease_seconds_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse("--partition-lease-seconds", "0")

    assert "0 is not a number above 0" in capsys.readouterr().err
