"""Fill and check the offline artifact mirror.

    ./vent artifacts fetch [--arch amd64] [--arch arm64] [--mirror DIR]
    ./vent artifacts build [--arch amd64] [--only COMPONENT] [--force] [--mirror DIR]
    ./vent artifacts check [--arch ...] [--mirror DIR]

`fetch` downloads every pinned release file (pillar/vent/artifacts.sls) to
``<mirror>/<component>/<version>/<arch>/<file>``, on a machine with internet access,
and keeps it only when its checksum matches the pin; files already there and valid are
left alone. `build` makes the same files (and the pinned container images) from the Go
modules at the pinned versions, for machines that reach the Go module proxy but not the
release hosts, and records their checksums in ``<mirror>/BUILT.json``. `check`
downloads nothing and exits 1 when a file is missing or matches neither the published
checksum nor the recorded build. Paths and URLs come from the same `vent_model.artifact`
function the states use.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ventlab.model import host_arch, model, settings


def plan(vent: dict, arches: list[str]) -> list[dict]:
    """Every pinned release file for each arch, as the states see it."""
    return [model.artifact(vent, component, name, arch)
            for component, release in sorted(vent["artifacts"]["releases"].items())
            for name in sorted(release.get("files") or {})
            for arch in arches]


def _digest(path: Path, hash_type: str) -> str:
    h = hashlib.new(hash_type)
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _valid(path: Path, item: dict) -> bool:
    want = item["source_hash"].split("=", 1)[1]
    return path.is_file() and _digest(path, item["hash_type"]) == want


def _built_valid(path: Path, item: dict, built: dict) -> bool:
    """The file is the one `build` recorded for this very version and arch."""
    entry = built.get("components", {}).get(f"{item['component']}/{item['arch']}") or {}
    rec = entry.get("files", {}).get(item["name"])
    return bool(rec) and entry.get("version") == item["version"] and path.is_file() \
        and _digest(path, "sha256") == rec["sha256"]


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


def build(vent: dict, arches: list[str], only: list[str] | None = None, force: bool = False) -> int:
    """Build every component with a build section; one progress line each, then the total."""
    from ventlab.build import components, golang

    mirror = Path(vent["artifacts"]["mirror"])
    started = time.monotonic()
    try:
        golang.go_version()
        todo = components.plan(vent, only)
    except golang.BuildError as exc:
        print(f"FAILED     {exc}", file=sys.stderr)
        return 1
    failed = 0
    for comp in todo:
        for arch in arches:
            t0 = time.monotonic()
            print(f"==> {comp.name} {comp.version} ({arch}) ...", file=sys.stderr, flush=True)
            try:
                state = components.build(comp, vent, arch, mirror, force=force)
            except golang.BuildError as exc:
                state, failed = f"FAILED: {exc}", failed + 1
            took = time.monotonic() - t0
            print(f"{state:10} {comp.name} {comp.version} {arch} in {took:.1f} s", flush=True)
    print(f"{'build failed' if failed else 'build complete'}: {len(todo)} component(s) in "
          f"{time.monotonic() - started:.1f} s ({mirror})")
    return 1 if failed else 0


def check(vent: dict, arches: list[str]) -> list[tuple[str, str, Path]]:
    """(state, label, path) of every pinned file and built image: ok (published
    checksum), ok-built (the file or image `build` recorded for this version),
    CORRUPT or MISSING."""
    from ventlab.build import components, manifest

    mirror = Path(vent["artifacts"]["mirror"])
    built = manifest.read(mirror)
    rows = []
    for item in plan(vent, arches):
        path = Path(item["mirror"])
        if _valid(path, item):
            state = "ok"
        elif _built_valid(path, item, built):
            state = "ok-built"
        else:
            state = "CORRUPT" if path.exists() else "MISSING"
        rows.append((state, f"{item['component']} {item['name']} {item['version']}", path))
    for comp in components.plan(vent):
        if not comp.spec.get("image"):
            continue
        for arch in arches:
            path = components.image_path(comp, mirror, arch)
            entry = built["components"].get(f"{comp.name}/{arch}") or {}
            rec = (entry.get("images") or {}).get(components.image_ref(comp))
            if rec and entry.get("version") == comp.version and path.is_file() \
                    and _digest(path, "sha256") == rec["sha256"]:
                state = "ok-built"
            else:
                state = "CORRUPT" if path.exists() else "MISSING"
            rows.append((state, f"{comp.name} image {comp.version}", path))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="./vent artifacts", description=__doc__.splitlines()[0])
    p.add_argument("cmd", choices=["fetch", "build", "check"])
    p.add_argument("--arch", action="append",
                   help="amd64, arm64 (default: fetch both; build and check this host's)")
    p.add_argument("--only", action="append", help="build: just this component (repeatable)")
    p.add_argument("--force", action="store_true", help="build: rebuild even when up to date")
    p.add_argument("--mirror", help="mirror directory (default: vent:artifacts:mirror)")
    args = p.parse_args(argv)
    vent = settings()
    if args.mirror:
        vent["artifacts"]["mirror"] = str(Path(args.mirror).resolve())
    if args.cmd == "build":
        return build(vent, args.arch or [host_arch()], args.only, args.force)
    if args.cmd == "check":
        rows = check(vent, args.arch or [host_arch()])
    else:
        rows = []
        for item in plan(vent, args.arch or ["amd64", "arm64"]):
            try:
                state = fetch_one(item)
            except (OSError, ValueError) as exc:
                state = f"FAILED: {exc}"
            label = f"{item['component']} {item['name']} {item['version']}"
            rows.append((state, label, Path(item["mirror"])))
    failed = 0
    for state, label, path in rows:
        failed += state not in ("ok", "ok-built", "present", "fetched")
        print(f"{state:10} {label:45} {path}")
    print(f"{failed} problem(s)" if failed else "mirror complete")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
