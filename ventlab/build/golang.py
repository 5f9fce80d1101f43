"""Go programs built from their published modules at an exact version.

Every build happens in a throwaway wrapper module that requires the pinned module and
builds its main packages from the module cache, so the pin is the only input besides
the Go toolchain. The caches live outside the checkout (``CACHE``) and survive a fresh
clone on the same machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ventlab.model import host_arch

CACHE = Path(os.environ.get("VENT_BUILD_CACHE", "/srv/vent/cache"))
# The Go toolchain `./vent setup` fetches when no Go >= MIN_GO is installed: the module
# golang.org/toolchain@v0.0.1-go<GO_TOOLCHAIN>.linux-<arch> from the Go module proxy (what
# GOTOOLCHAIN auto-download uses). Per host arch: the sha256 of the zip the proxy serves,
# and Go's h1: dirhash of its contents as sum.golang.org lists it. ventlab/build/toolchain.py
# checks both before unpacking.
GO_TOOLCHAIN = "1.26.8"
GO_TOOLCHAIN_SUMS = {
    "amd64": ("30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7",
              "h1:ZOmGe1OnfREDMIdb1Qi4G9JSuDPBLGExZMQ4nis1RXM="),
    "arm64": ("02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99",
              "h1:sYL/O6MqS68ML0kjsQ36WoYIpJqkw60TxizWUYUKQMc="),
}
# The go directive of the newest module we build (Kubernetes 1.37: go 1.26.0) sets the
# minor; GO_TOOLCHAIN is a release of it, so bumping the pin moves both.
MIN_GO = (int(GO_TOOLCHAIN.split(".")[0]), int(GO_TOOLCHAIN.split(".")[1]))
# Where Go's official tarball installs when its bin dir is not on PATH.
GO_ROOT_BIN = Path("/usr/local/go/bin/go")
# Go's own default module proxy, when $GOPROXY names none.
DEFAULT_PROXY = "https://proxy.golang.org"


def toolchain_cache() -> Path:
    """Where fetched toolchains live, outside the checkout: $VENT_GO_CACHE, else
    $XDG_CACHE_HOME/vent/go, else ~/.cache/vent/go."""
    if os.environ.get("VENT_GO_CACHE"):
        return Path(os.environ["VENT_GO_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vent" / "go"


def toolchain_dir(arch: str) -> Path:
    """The GOROOT of the pinned toolchain once fetched for this host arch."""
    return toolchain_cache() / f"go{GO_TOOLCHAIN}.linux-{arch}"


class BuildError(Exception):
    """A build that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class ModuleInfo:
    path: str
    version: str
    commit: str
    time: str
    gomod: Path
    dir: Path


def go_env() -> dict:
    env = dict(os.environ)
    env.update({
        "GOMODCACHE": str(CACHE / "gomod"),
        "GOCACHE": str(CACHE / "gobuild"),
        # Module cache files stay writable so a cache can be deleted without chmod.
        "GOFLAGS": "-modcacherw",
        "GOTOOLCHAIN": env.get("GOTOOLCHAIN", "local"),
        "GOWORK": "off",
    })
    return env


def go_candidates() -> list[Path]:
    """Every installed go command, in the order they are tried: PATH, /usr/local/go,
    then the toolchain `./vent setup` fetched."""
    found: list[Path] = []
    for cand in (shutil.which("go"), GO_ROOT_BIN, toolchain_dir(host_arch()) / "bin" / "go"):
        if cand and os.access(cand, os.X_OK) and Path(cand).is_file() and Path(cand) not in found:
            found.append(Path(cand))
    return found


def probe(go: Path) -> tuple[int, int, str]:
    """(major, minor, GOVERSION) of one go command; BuildError when it does not answer."""
    out = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, env=go_env())
    text = out.stdout.strip()
    m = re.match(r"go(\d+)\.(\d+)", text)
    if out.returncode or not m:
        raise BuildError(f"`{go} env GOVERSION` failed: {out.stderr.strip() or text}")
    return int(m.group(1)), int(m.group(2)), text


def search() -> tuple[Path | None, tuple[int, int, str] | None, list[str]]:
    """(the first installed Go >= MIN_GO, its version, why each one before it was
    passed over); (None, None, reasons) when there is none."""
    seen = []
    for go in go_candidates():
        try:
            version = probe(go)
        except BuildError as exc:
            seen.append(str(exc))
            continue
        if version[:2] >= MIN_GO:
            return go, version, seen
        seen.append(f"{version[2]} at {go} is too old")
    return None, None, seen


def missing(seen: list[str]) -> str:
    """Why no installed Go will do, in one sentence."""
    if not seen:
        return (f"Go is not installed (no `go` on PATH, in {GO_ROOT_BIN.parent} or "
                f"{toolchain_dir(host_arch())})")
    return f"no usable Go ({'; '.join(seen)}): the pinned modules need Go {MIN_GO[0]}.{MIN_GO[1]} or newer"


def find_go() -> tuple[Path, tuple[int, int, str]]:
    """The first installed Go >= MIN_GO and its version; BuildError naming every Go
    found otherwise."""
    go, version, seen = search()
    if go is None or version is None:
        raise BuildError(f"{missing(seen)}: run ./vent setup (it fetches Go {GO_TOOLCHAIN} into "
                         f"{toolchain_cache()}) or install Go {MIN_GO[0]}.{MIN_GO[1]} or newer")
    return go, version


def _go() -> str:
    return str(find_go()[0])


def go_version() -> tuple[int, int, str]:
    """The toolchain's version; BuildError when Go is missing or too old."""
    return find_go()[1]


def explain(stderr: str, what: str) -> str:
    """Turn the go command's failure into one sentence naming the cause."""
    text = stderr.strip()
    low = text.lower()
    proxy = go_env().get("GOPROXY") or DEFAULT_PROXY
    if any(s in low for s in ("403 forbidden", "404 not found", "410 gone", "unknown revision",
                              "not available", "invalid version")):
        return f"{what} is not served by the Go module proxy ({proxy}): {text.splitlines()[-1]}"
    if any(s in low for s in ("dial tcp", "no such host", "connection refused", "i/o timeout",
                              "tls handshake timeout", "proxyconnect", "network is unreachable")):
        return f"the Go module proxy ({proxy}) is unreachable while fetching {what}: {text.splitlines()[-1]}"
    if "no space left on device" in low:
        return f"disk full while building {what}: {text.splitlines()[-1]}"
    tail = "\n".join(text.splitlines()[-15:])
    return f"building {what} failed:\n{tail}"


def run(argv: list[str], cwd: Path, what: str, env: dict | None = None) -> str:
    proc = subprocess.run([_go(), *argv], cwd=cwd, capture_output=True, text=True,
                          env={**go_env(), **(env or {})})
    if proc.returncode:
        raise BuildError(explain(proc.stderr or proc.stdout, what))
    return proc.stdout


def download(module: str, version: str, workdir: Path) -> ModuleInfo:
    """``go mod download`` of one module version: its commit, time and go.mod."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = run(["mod", "download", "-json", f"{module}@{version}"], workdir, f"{module}@{version}")
    data = json.loads(out)
    if data.get("Error"):
        raise BuildError(explain(data["Error"], f"{module}@{version}"))
    info = json.loads(Path(data["Info"]).read_text())
    origin = info.get("Origin") or data.get("Origin") or {}
    return ModuleInfo(path=module, version=data["Version"], commit=origin.get("Hash", ""),
                      time=info.get("Time", ""), gomod=Path(data["GoMod"]), dir=Path(data["Dir"]))


def staging_replaces(gomod_text: str, version: str) -> dict[str, str]:
    """Kubernetes' staging modules, each pinned to its published ``v0.<minor>.<patch>``.

    The kubernetes module requires them at v0.0.0 and points them at ./staging with
    ``replace`` lines, which Go ignores in a dependency; the published tags carry the
    same code as v0.<minor>.<patch> for v1.<minor>.<patch>."""
    m = re.fullmatch(r"v1\.(\d+)\.(\d+)", version)
    if not m:
        raise BuildError(f"k8s.io/kubernetes {version}: not a v1.<minor>.<patch> release")
    published = f"v0.{m.group(1)}.{m.group(2)}"
    found = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/\S+\s*$", gomod_text, re.M)
    if not found:
        raise BuildError("k8s.io/kubernetes go.mod lists no ./staging replace lines")
    return {path: published for path in sorted(set(found))}


def go_directives(gomod_text: str) -> list[str]:
    """The go and godebug lines of a go.mod: only the main module's count, so the
    wrapper repeats the pinned module's to build with its language and defaults."""
    return [line.strip() for line in gomod_text.splitlines()
            if re.match(r"^(go|godebug)\s", line.strip())]


def wrapper_gomod(name: str, modules: list[ModuleInfo], replaces: dict[str, str]) -> str:
    """The throwaway main module: requires exactly the pinned modules (the first one's
    go/godebug lines apply) and the replacements."""
    lines = [f"module vent.invalid/build/{name}", ""]
    lines += go_directives(modules[0].gomod.read_text()) or [f"go {MIN_GO[0]}.{MIN_GO[1]}.0"]
    lines += ["", "require ("]
    lines += [f"\t{m.path} {m.version}" for m in modules]
    lines += [")"]
    if replaces:
        lines += ["", "replace ("]
        lines += [f"\t{path} => {path} {ver}" for path, ver in sorted(replaces.items())]
        lines += [")"]
    return "\n".join(lines) + "\n"


def default_binary_name(package: str) -> str:
    """The file name ``go build -o dir/`` gives a main package (a /vN suffix is skipped)."""
    parts = package.rstrip("/").split("/")
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        return parts[-2]
    return parts[-1]


def build(workdir: Path, name: str, modules: list[ModuleInfo], packages: dict[str, str], outdir: Path,
          *, ldflags: list[str], tags: list[str], cgo: bool, goarch: str,
          replaces: dict[str, str] | None = None) -> dict[str, Path]:
    """Build ``packages`` ({binary name: import path}) into ``outdir`` in one go command,
    so compiles and links of one component run in parallel."""
    defaults = {default_binary_name(pkg) for pkg in packages.values()}
    if len(defaults) != len(packages):
        raise BuildError(f"{name}: two packages build to the same file name: {sorted(packages.values())}")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(wrapper_gomod(name, modules, replaces or {}))
    (workdir / "go.sum").unlink(missing_ok=True)
    raw = workdir / "bin"
    shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir()
    env = {"CGO_ENABLED": "1" if cgo else "0", "GOOS": "linux", "GOARCH": goarch}
    flags = ["-mod=mod", "-trimpath", "-buildvcs=false", "-ldflags", " ".join(ldflags)]
    if tags:
        flags += ["-tags", ",".join(tags)]
    pins = ", ".join(f"{m.path}@{m.version}" for m in modules)
    run(["build", *flags, "-o", f"{raw}/", *sorted(packages.values())], workdir, pins, env)
    outdir.mkdir(parents=True, exist_ok=True)
    built = {}
    for binary, package in sorted(packages.items()):
        target = outdir / binary
        os.replace(raw / default_binary_name(package), target)
        built[binary] = target
    return built
