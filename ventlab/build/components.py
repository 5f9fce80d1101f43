"""Build the pinned release files and images from source into the mirror.

What to build comes from ``vent:artifacts:releases`` alone: every release with a
``build`` key is a component; its ``files`` say which mirror files it yields (the same
names `fetch` would download), its ``image`` which container image. Each component is
built in a temporary directory inside the mirror, verified, then renamed into place,
and recorded in ``BUILT.json`` with a key over everything that went into it, so an
unchanged pin is not rebuilt.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ventlab.build import golang, manifest, oci
from ventlab.model import model

# Bump when the way files are built or laid out changes: every component rebuilds.
BUILDER_VERSION = 1
HOST_BUSYBOX = Path("/bin/busybox")
# A cold build of the largest component (Kubernetes) fills about this much cache.
NEED_CACHE_BYTES = 6 << 30
NEED_MIRROR_BYTES = 2 << 30


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    release: dict

    @property
    def spec(self) -> dict:
        return self.release["build"]


def plan(vent: dict, only: list[str] | None = None) -> list[Component]:
    """Every release of the pillar that says how to build it, in pillar order."""
    releases = vent["artifacts"]["releases"]
    unknown = sorted(set(only or []) - set(releases))
    if unknown:
        raise golang.BuildError(f"no release named {', '.join(unknown)} in vent:artifacts:releases "
                                f"(known: {', '.join(sorted(releases))})")
    comps = [Component(name, str(rel["version"]), rel) for name, rel in releases.items()
             if rel.get("build") and (not only or name in only)]
    missing = sorted(set(only or []) - {c.name for c in comps})
    if missing:
        raise golang.BuildError(f"vent:artifacts:releases:{missing[0]} has no build section")
    return comps


def _fmt(value, comp: Component, vent: dict, extra: dict | None = None):
    """Fill ``{version}``, ``{release[<name>]}`` and ``extra`` placeholders."""
    versions = {n: str(r["version"]) for n, r in vent["artifacts"]["releases"].items()}
    fields = {"version": comp.version, "release": versions, **(extra or {})}
    if isinstance(value, str):
        return value.format(**fields)
    if isinstance(value, list):
        return [_fmt(v, comp, vent, extra) for v in value]
    if isinstance(value, dict):
        return {k: _fmt(v, comp, vent, extra) for k, v in value.items()}
    return value


def check_space(mirror: Path) -> None:
    for where, need in ((golang.CACHE, NEED_CACHE_BYTES), (mirror, NEED_MIRROR_BYTES)):
        probe = Path(where)
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if free < need:
            raise golang.BuildError(f"disk space low: {free / 2**30:.1f} GiB free at {probe}, a build "
                                    f"needs {need / 2**30:.0f} GiB there")


def _debs(names: list[str], dest: Path) -> dict[str, str]:
    """Unpack Debian packages into ``dest``: {package: version}. The .debs are cached."""
    cache = golang.CACHE / "debs"
    cache.mkdir(parents=True, exist_ok=True)
    versions = {}
    for name in names:
        found = sorted(cache.glob(f"{name}_*.deb"))
        policy = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True).stdout
        m = re.search(r"Candidate:\s*(\S+)", policy)
        if not m or m.group(1) == "(none)":
            raise golang.BuildError(f"Debian package {name} is not available (apt-cache policy {name})")
        want = m.group(1).split(":")[-1]
        found = [p for p in found if p.name.split("_")[1].replace("%3a", ":").split(":")[-1] == want]
        if not found:
            proc = subprocess.run(["apt-get", "download", name], cwd=cache, capture_output=True, text=True)
            if proc.returncode:
                raise golang.BuildError(f"apt-get download {name} failed: {proc.stderr.strip()}")
            found = sorted(cache.glob(f"{name}_*.deb"))[-1:]
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(dest)], check=True)
        versions[name] = want
    for junk in ("usr/share/doc", "usr/share/man", "usr/share/lintian", "usr/share/locale"):
        shutil.rmtree(dest / junk, ignore_errors=True)
    return versions


def _tree(root: Path) -> dict[str, object]:
    """A directory as an ``oci.layer_tar`` tree."""
    out: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            out[rel] = "->" + os.readlink(path)
        elif path.is_dir():
            out[rel] = None
        else:
            out[rel] = path
    return out


def _image_tree(spec: dict, bins: Path, work: Path) -> tuple[dict[str, object], dict[str, str]]:
    tree: dict[str, object] = {}
    debs = {}
    if spec.get("debs"):
        root = work / "debs-root"
        debs = _debs(spec["debs"], root)
        tree.update(_tree(root))
    for path, binary in (spec.get("files") or {}).items():
        tree[path.lstrip("/")] = bins / binary
    if spec.get("busybox"):
        tree["bin/busybox"] = HOST_BUSYBOX
        applets = subprocess.run([str(HOST_BUSYBOX), "--list"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for applet in applets:
            tree.setdefault(f"bin/{applet}", "->busybox")
    for path, target in (spec.get("links") or {}).items():
        tree[path.lstrip("/")] = "->" + target
    for path in spec.get("dirs") or []:
        tree.setdefault(path.strip("/"), None)
    return tree, debs


def _pack(target: Path, members: list[str], bins: Path, mtime: int) -> None:
    """A release tarball: each member is the built binary of its base name."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = sorted({str(Path(m).parent) for m in members} - {".", ""})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(info)
        for member in members:
            data = (bins / member.rsplit("/", 1)[-1]).read_bytes()
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), 0o755, mtime
            tar.addfile(info, io.BytesIO(data))
    target.write_bytes(gzip.compress(raw.getvalue(), compresslevel=6, mtime=0))


def _verify_go(binary: Path, package: str, modules: list[golang.ModuleInfo]) -> None:
    """The binary's embedded build info names the module its package comes from, at
    the pinned version."""
    owner = max((m for m in modules if package == m.path or package.startswith(m.path + "/")),
                key=lambda m: len(m.path))
    out = subprocess.run([golang._go(), "version", "-m", str(binary)], capture_output=True, text=True,
                         env=golang.go_env())
    deps = set(re.findall(r"^\s+(?:dep|mod)\s+(\S+)\s+(\S+)", out.stdout, re.M))
    if (owner.path, owner.version) not in deps:
        raise golang.BuildError(f"{binary.name}: build info does not list {owner.path} {owner.version} "
                                f"(go version -m: {out.stdout.strip()[:300] or out.stderr.strip()})")


def build_key(comp: Component, vent: dict, arch: str, modules: list[golang.ModuleInfo], go: str) -> str:
    # The raw spec, the version and the resolved modules: placeholders are filled from these.
    data = {"builder": BUILDER_VERSION, "spec": comp.spec, "version": comp.version, "arch": arch, "go": go,
            "files": comp.release.get("files"), "image": comp.release.get("image"),
            "modules": [f"{m.path}@{m.version}" for m in modules]}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def mirror_files(comp: Component, vent: dict, arch: str) -> list[dict]:
    """The mirror paths this component's files go to: the same as `fetch` uses."""
    return [model.artifact(vent, comp.name, name, arch) for name in sorted(comp.release.get("files") or {})]


def image_ref(comp: Component) -> str:
    return comp.release["image"].format(version=comp.version)


def image_path(comp: Component, mirror: Path, arch: str) -> Path:
    ref = image_ref(comp)
    name = ref.rsplit("/", 1)[-1].replace(":", "-")
    return Path(mirror) / comp.name / comp.version / arch / f"{name}.oci.tar"


def build(comp: Component, vent: dict, arch: str, mirror: Path, *, force: bool = False) -> str:
    """Build one component for ``arch`` into ``mirror``: "built" or "cached"."""
    spec = comp.spec
    mods = [m.rsplit("@", 1) for m in _fmt(spec["modules"], comp, vent)]
    _, _, go = golang.go_version()
    scratch = golang.CACHE / "work" / comp.name
    modules = [golang.download(path, version, scratch) for path, version in mods]
    key = build_key(comp, vent, arch, modules, go)
    data = manifest.read(mirror)
    entry = data["components"].get(f"{comp.name}/{arch}")
    if not force and entry and entry.get("key") == key and entry.get("version") == comp.version \
            and manifest.intact(mirror, entry):
        return "cached"
    check_space(mirror)
    mirror.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=mirror, prefix=f".build-{comp.name}-"))
    try:
        bins = tmp / "bin"
        main = modules[0]
        ver = re.match(r"v?(\d+)\.(\d+)", main.version)
        extra = {"commit": main.commit, "date": main.time, "module_version": main.version,
                 "major": ver.group(1) if ver else "", "minor": ver.group(2) if ver else ""}
        if spec.get("go"):
            replaces = (golang.staging_replaces(main.gomod.read_text(), main.version)
                        if spec.get("staging") else {})
            replaces.update(spec.get("replace") or {})
            golang.build(scratch, comp.name, modules, _fmt(spec["go"], comp, vent), bins,
                         ldflags=_fmt(spec.get("ldflags") or [], comp, vent, extra),
                         tags=spec.get("tags") or [], cgo=bool(spec.get("cgo")),
                         goarch=arch, replaces=replaces)
            for binary, package in _fmt(spec["go"], comp, vent).items():
                _verify_go(bins / binary, package, modules)
        for binary, source in (spec.get("c") or {}).items():
            bins.mkdir(parents=True, exist_ok=True)
            src = main.dir / _fmt(source, comp, vent)
            cflags = _fmt(spec.get("cflags") or [], comp, vent, extra)
            proc = subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", *cflags, "-o",
                                   str(bins / binary), str(src)], capture_output=True, text=True)
            if proc.returncode:
                raise golang.BuildError(f"gcc {src} failed: {proc.stderr.strip()}")
            subprocess.run(["strip", str(bins / binary)], check=True)
        mtime = int(time.mktime(time.strptime(main.time[:19], "%Y-%m-%dT%H:%M:%S"))) if main.time else 0
        entry = {"component": comp.name, "version": comp.version, "arch": arch, "key": key, "go": go,
                 "modules": [f"{m.path}@{m.version}" for m in modules],
                 "commit": main.commit, "ldflags": _fmt(spec.get("ldflags") or [], comp, vent, extra),
                 "tags": spec.get("tags") or [], "cgo": bool(spec.get("cgo")),
                 "replace": spec.get("replace") or {}, "files": {}, "images": {}}
        moves = []
        for art in mirror_files(comp, vent, arch):
            staged = tmp / "files" / Path(art["mirror"]).name
            staged.parent.mkdir(parents=True, exist_ok=True)
            if art["members"]:
                _pack(staged, art["members"], bins, mtime)
            else:
                shutil.copy2(bins / art["name"], staged)
                staged.chmod(0o755)
            rel = Path(art["mirror"]).relative_to(mirror)
            entry["files"][art["name"]] = {"name": art["name"], "arch": arch, "path": str(rel),
                                           "sha256": manifest.sha256(staged)}
            moves.append((staged, Path(art["mirror"])))
        if spec.get("image"):
            image_spec = _fmt(spec["image"], comp, vent)
            tree, debs = _image_tree(image_spec, bins, tmp)
            staged = tmp / "image.oci.tar"
            digest = oci.write_image(staged, image_ref(comp), tree, arch=arch,
                                     entrypoint=image_spec["entrypoint"], cmd=image_spec.get("cmd"),
                                     user=str(image_spec.get("user") or ""))
            final = image_path(comp, mirror, arch)
            entry["images"][image_ref(comp)] = {"ref": image_ref(comp), "arch": arch, "digest": digest,
                                                "path": str(final.relative_to(mirror)),
                                                "sha256": manifest.sha256(staged), "debs": debs}
            moves.append((staged, final))
        for staged, final in moves:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        data = manifest.read(mirror)
        data["components"][f"{comp.name}/{arch}"] = entry
        manifest.write(mirror, data)
        return "built"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
