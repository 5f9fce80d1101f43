"""``<mirror>/BUILT.json``: what `./vent artifacts build` put into the mirror.

Built files cannot match upstream's published checksums (another build), so their
sha256 is recorded here with how each was made; the lab pillar takes its checksums
and image digests from this file, and the states verify every file against it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

NAME = "BUILT.json"


def path(mirror: Path) -> Path:
    return Path(mirror) / NAME


def read(mirror: Path) -> dict:
    """``{"components": {name: entry}}``; an empty manifest when there is none."""
    p = path(mirror)
    if not p.exists():
        return {"components": {}}
    try:
        data = json.loads(p.read_text())
    except ValueError as exc:
        raise ValueError(f"{p} is not valid JSON ({exc}); delete it and run "
                         "`./vent artifacts build`") from exc
    data.setdefault("components", {})
    return data


def write(mirror: Path, data: dict) -> None:
    """Replace the manifest atomically: a reader sees the old one or the new one."""
    p = path(mirror)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".BUILT-")
    with os.fdopen(fd, "w") as out:
        json.dump(data, out, indent=1, sort_keys=True)
        out.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, p)


def sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def intact(mirror: Path, entry: dict) -> bool:
    """Every file and image archive of a component entry is there with its sha256."""
    items = [*entry.get("files", {}).values(), *entry.get("images", {}).values()]
    return bool(items) and all(
        (Path(mirror) / item["path"]).is_file() and sha256(Path(mirror) / item["path"]) == item["sha256"]
        for item in items
    )


def pillar(data: dict) -> dict:
    """The ``vent:artifacts:built`` pillar of a manifest: per component and version,
    each file's sha256 by arch and each image's digest."""
    out: dict = {}
    for key, entry in sorted(data.get("components", {}).items()):
        component, version = key.split("/", 1)[0], entry["version"]
        node = out.setdefault(component, {}).setdefault(version, {})
        for item in entry.get("files", {}).values():
            node.setdefault("files", {}).setdefault(item["name"], {})[item["arch"]] = item["sha256"]
        for item in entry.get("images", {}).values():
            node.setdefault("images", {})[item["arch"]] = item["digest"]
    return out
