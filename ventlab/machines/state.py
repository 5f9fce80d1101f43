"""What the lab created, on disk, so `down` removes exactly that and nothing else.

The lab command and the emulator's backend (another process) both change it, so every
change is a read-modify-write under an exclusive lock on a side file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lab_dir() -> Path:
    return Path(os.environ.get("VENT_LAB_DIR", REPO / ".vent" / "lab"))


def empty() -> dict:
    return {"bridge": None, "rules": [], "machines": {}, "processes": {}, "files": [],
            "leftover_cgroups": []}


@contextlib.contextmanager
def locked(directory: Path | None = None):
    """Yield the state dict; it is written back atomically when the block ends."""
    directory = directory or lab_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "state.json"
    with open(directory / "state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text()) if path.exists() else empty()
        for key, value in empty().items():
            state.setdefault(key, value)
        yield state
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(tmp, path)


def read(directory: Path | None = None) -> dict:
    path = (directory or lab_dir()) / "state.json"
    return json.loads(path.read_text()) if path.exists() else empty()
