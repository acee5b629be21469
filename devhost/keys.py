"""Function, master and system keys kept in the state folder, as the Functions host keeps them."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEYS_FILE = "keys.json"
DURABLE_SYSTEM_KEY = "durabletask_extension"


@dataclass(frozen=True)
class HostKeys:
    """The master key, host-level function keys and system keys of one state folder."""

    master: str
    function_keys: dict[str, str]
    system_keys: dict[str, str]

    @property
    def default_function_key(self) -> str:
        return self.function_keys["default"]

    @property
    def durable_key(self) -> str:
        return self.system_keys[DURABLE_SYSTEM_KEY]

    def allows(self, auth_level: str, key: str | None) -> bool:
        """Tell whether key satisfies an HTTP trigger's auth level (ANONYMOUS, FUNCTION, ADMIN)."""
        if auth_level == "ANONYMOUS":
            return True
        if not key:
            return False
        if secrets.compare_digest(key, self.master):
            return True
        if auth_level == "ADMIN":
            return False
        return any(secrets.compare_digest(key, value) for value in self.function_keys.values())

    def allows_system(self, name: str, key: str | None) -> bool:
        """Tell whether key is the master key or the named system key."""
        if not key:
            return False
        candidates = [self.master, self.system_keys.get(name, "")]
        return any(value and secrets.compare_digest(key, value) for value in candidates)


def _new_key() -> str:
    return secrets.token_urlsafe(40)


def load_or_create_keys(state_dir: Path) -> HostKeys:
    """Read <state>/keys.json, creating it with fresh random keys on first start."""
    path = state_dir / KEYS_FILE
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    else:
        data = {
            "masterKey": _new_key(),
            "functionKeys": {"default": _new_key()},
            "systemKeys": {DURABLE_SYSTEM_KEY: _new_key()},
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2), encoding="utf-8")
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    return HostKeys(
        master=data["masterKey"],
        function_keys=dict(data["functionKeys"]),
        system_keys=dict(data.get("systemKeys", {})),
    )
