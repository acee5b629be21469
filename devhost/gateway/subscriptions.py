"""Subscription keys for local use, kept in the state folder as `apim-subscriptions.json`."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SUBSCRIPTIONS_FILE = "apim-subscriptions.json"


@dataclass(frozen=True)
class Subscription:
    """One API Management subscription with its primary and secondary key."""

    id: str
    display_name: str
    primary_key: str
    secondary_key: str
    active: bool

    def accepts(self, key: str) -> bool:
        """Tell whether `key` is this active subscription's primary or secondary key."""
        if not self.active:
            return False
        matches_primary = secrets.compare_digest(key, self.primary_key)
        matches_secondary = secrets.compare_digest(key, self.secondary_key)
        return matches_primary or matches_secondary


def load_or_create_subscriptions(state_dir: Path) -> list[Subscription]:
    """Read the subscriptions file, creating it with one new subscription on first start."""
    path = state_dir / SUBSCRIPTIONS_FILE
    if not path.exists():
        _write_new_file(path)

    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        Subscription(
            id=entry["id"],
            display_name=entry.get("displayName", entry["id"]),
            primary_key=entry["primaryKey"],
            secondary_key=entry["secondaryKey"],
            active=entry.get("state", "active") == "active",
        )
        for entry in data["subscriptions"]
    ]


def find_subscription(subscriptions: list[Subscription], key: str) -> Subscription | None:
    """Return the subscription that accepts `key`, or None."""
    return next((s for s in subscriptions if s.accepts(key)), None)


def _write_new_file(path: Path) -> None:
    data = {
        "subscriptions": [
            {
                "id": "devhost",
                "displayName": "Local developer",
                "state": "active",
                "primaryKey": secrets.token_hex(16),
                "secondaryKey": secrets.token_hex(16),
            }
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
