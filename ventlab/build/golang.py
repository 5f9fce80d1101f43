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

CACHE = Path(os.environ.get("VENT_BUILD_CACHE", "/srv/vent/cache"))
# The go directive of the newest module we build (Kubernetes 1.37: go 1.26.0).
MIN_GO = (1, 26)
# Where Go's official tarball installs when its bin dir is not on PATH.
GO_ROOT_BIN = Path("/usr/local/go/bin/go")


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


def _go() -> str | None:
    return shutil.which("go") or (str(GO_ROOT_BIN) if GO_ROOT_BIN.exists() else None)


def go_version() -> tuple[int, int, str]:
    """The local toolchain's version; BuildError when Go is missing or too old."""
    go = _go()
    if not go:
        raise BuildError("Go is not installed (no `go` on PATH or /usr/local/go/bin): install "
                         f"Go {MIN_GO[0]}.{MIN_GO[1]} or newer to build release files from source")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, env=go_env())
    text = out.stdout.strip()
    m = re.match(r"go(\d+)\.(\d+)", text)
    if out.returncode or not m:
        raise BuildError(f"`go env GOVERSION` failed: {out.stderr.strip() or text}")
    major, minor = int(m.group(1)), int(m.group(2))
    if (major, minor) < MIN_GO:
        raise BuildError(f"Go {text} is too old: the pinned modules need Go "
                         f"{MIN_GO[0]}.{MIN_GO[1]} or newer")
    return major, minor, text


def explain(stderr: str, what: str) -> str:
    """Turn the go command's failure into one sentence naming the cause."""
    text = stderr.strip()
    low = text.lower()
    proxy = go_env().get("GOPROXY") or "https://proxy.golang.org"
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
