"""Fill and check the offline artifact mirror.

    ./vent artifacts fetch [--arch amd64] [--arch arm64] [--mirror DIR]
    ./vent artifacts check [--arch ...] [--mirror DIR]

`fetch` downloads every pinned release file (pillar/vent/artifacts.sls) to
``<mirror>/<component>/<version>/<arch>/<file>``, on a machine with internet access,
and keeps it only when its checksum matches the pin; files already there and valid are
left alone. `check` downloads nothing and exits 1 when a file is missing or corrupt.
Paths and URLs come from the same `vent.artifact` function the states use.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _vent_module():
    spec = importlib.util.spec_from_file_location("vent_salt_module", REPO / "salt/_modules/vent.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _merge(base: dict, over: dict) -> dict:
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def settings(pillar_root: Path = REPO / "pillar") -> dict:
    """The tracked defaults and pins, with the operator's site.sls over them."""
    merged: dict = {}
    for rel in ("vent/defaults.sls", "vent/artifacts.sls", "site.sls"):
        path = pillar_root / rel
        if path.exists():
            _merge(merged, (yaml.safe_load(path.read_text()) or {}).get("vent", {}))
    return merged


def plan(vent: dict, arches: list[str]) -> list[dict]:
    mod = _vent_module()
    items = []
    for component, release in sorted(vent["artifacts"]["releases"].items()):
        for name in sorted(release.get("files") or {}):
            for arch in arches:
                items.append(mod.artifact(component, name, arch, vent))
    return items


def _digest(path: Path, hash_type: str) -> str:
    h = hashlib.new(hash_type)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _valid(path: Path, item: dict) -> bool:
    want = item["source_hash"].split("=", 1)[1]
    return path.is_file() and _digest(path, item["hash_type"]) == want


def fetch_one(item: dict, timeout: float = 300) -> str:
    target = Path(item["mirror"])
    if _valid(target, item):
        return "present"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(item["url"], timeout=timeout) as resp:  # noqa: S310 (pinned https URLs)
            while block := resp.read(1 << 20):
                out.write(block)
        if not _valid(Path(tmp), item):
            raise ValueError(f"checksum mismatch for {item['url']} (want {item['source_hash']})")
        os.replace(tmp, target)
        return "fetched"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="./vent artifacts", description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["fetch", "check"])
    p.add_argument("--arch", action="append", help="amd64, arm64 (default: both)")
    p.add_argument("--mirror", help="mirror directory (default: vent:artifacts:mirror)")
    args = p.parse_args(argv)
    vent = settings()
    if args.mirror:
        vent["artifacts"]["mirror"] = str(Path(args.mirror).resolve())
    failed = 0
    for item in plan(vent, args.arch or ["amd64", "arm64"]):
        label = f"{item['component']} {item['name']} {item['version']}"
        path = Path(item["mirror"])
        if args.cmd == "check":
            state = "ok" if _valid(path, item) else ("CORRUPT" if path.exists() else "MISSING")
        else:
            try:
                state = fetch_one(item)
            except (OSError, ValueError) as exc:
                state = f"FAILED: {exc}"
        failed += state not in ("ok", "present", "fetched")
        print(f"{state:10} {label:45} {path}")
    print(f"{failed} problem(s)" if failed else "mirror complete")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
