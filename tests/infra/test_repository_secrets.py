"""No key, password or connection string with a secret is in the repository.

detect-secrets scans every file git tracks or would track (untracked files that .gitignore does
not exclude), so a secret is caught before it is committed. A line that must hold a
secret-looking value carries `pragma: allowlist secret` with the reason beside it.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from bicep_tree import ROOT
from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings

pytestmark = pytest.mark.slow


def repository_files() -> list[str]:
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [str(ROOT / name) for name in listing.split("\0") if name and (ROOT / name).is_file()]


def scan(paths: list[str], root: Path) -> dict[str, list[str]]:
    """Return the secret types found, by file and line, in the files under `root`."""
    collection = SecretsCollection(root=str(root))
    with default_settings():
        collection.scan_files(*paths)

    return {
        filename: [f"line {found.line_number}: {found.type}" for found in found_secrets]
        for filename, found_secrets in collection.data.items()
        if found_secrets
    }


def test_repository_has_files_to_scan():
    assert len(repository_files()) > 20


def test_repository_holds_no_secret():
    findings = scan(repository_files(), ROOT)

    assert not findings, f"possible secrets (remove them or allow-list with a reason): {findings}"


def test_scanner_flags_a_planted_password(tmp_path):
    planted = tmp_path / "settings.py"
    planted.write_text(f'db_password = "{secrets.token_urlsafe(24)}"\n')

    assert scan([str(planted)], tmp_path)
