"""The Go toolchain for the release build, fetched from the Go module proxy when the
machine has none new enough.

    python -m ventlab.build.toolchain ensure   # quiet when a Go >= MIN_GO is installed
    python -m ventlab.build.toolchain path     # prints the go command the build uses

`./vent setup` runs ``ensure``. When `go` on PATH, /usr/local/go/bin/go or an earlier
fetch already satisfies golang.MIN_GO nothing touches the network. Otherwise it downloads
golang.org/toolchain@v0.0.1-go<GO_TOOLCHAIN>.linux-<arch>.zip (the module GOTOOLCHAIN
auto-download uses) from the first proxy in $GOPROXY (default proxy.golang.org), checks
its sha256 and its h1: dirhash against the pins in golang.py before unpacking anything,
and unpacks it into a temporary directory renamed to golang.toolchain_dir() at the end,
so that directory either holds the whole toolchain or does not exist.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ventlab.build import golang
from ventlab.build.golang import BuildError

DEFAULT_PROXY = golang.DEFAULT_PROXY
TIMEOUT = 60


def proxy() -> str:
    """The first proxy URL in $GOPROXY ("direct" and "off" entries skipped), as `go`
    reads it; proxy.golang.org when there is none."""
    for entry in os.environ.get("GOPROXY", "").replace("|", ",").split(","):
        entry = entry.strip()
        if entry and entry not in ("direct", "off"):
            return entry.rstrip("/")
    return DEFAULT_PROXY


def module_version(arch: str) -> str:
    return f"v0.0.1-go{golang.GO_TOOLCHAIN}.linux-{arch}"


def zip_url(arch: str) -> str:
    return f"{proxy()}/golang.org/toolchain/@v/{module_version(arch)}.zip"


def h1(digests: dict[str, str]) -> str:
    """Go's h1: hash (golang.org/x/mod/sumdb/dirhash.Hash1) from {file name: sha256 hex}:
    sha256 over the lines "<sha256 hex>  <name>\\n" sorted by name, base64."""
    lines = []
    for name in sorted(digests):
        if "\n" in name:
            raise BuildError(f"file name with a newline: {name!r}")
        lines.append(f"{digests[name]}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


def zip_dirhash(zf: zipfile.ZipFile) -> str:
    """dirhash.HashZip: the h1: hash of a module zip, its entries named as in the zip."""
    digests = {}
    for name in zf.namelist():
        digest = hashlib.sha256()
        with zf.open(name) as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        digests[name] = digest.hexdigest()
    return h1(digests)


def _download(url: str, dest: Path) -> tuple[str, int]:
    """Stream ``url`` into ``dest``; (sha256 hex, bytes)."""
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as resp, dest.open("wb") as out:  # noqa: S310
            while chunk := resp.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except urllib.error.HTTPError as exc:
        raise BuildError(f"downloading Go {golang.GO_TOOLCHAIN} from {url} failed: HTTP {exc.code} "
                         f"{exc.reason} (GOPROXY selects the proxy)") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BuildError(f"downloading Go {golang.GO_TOOLCHAIN} from {url} failed: {reason} "
                         f"(GOPROXY selects the proxy)") from None
    return digest.hexdigest(), size


def _unpack(zf: zipfile.ZipFile, prefix: str, into: Path) -> None:
    """Every entry under ``prefix`` into ``into``, with its unix mode; anything else,
    or a path leaving ``into``, refuses the zip."""
    for info in zf.infolist():
        name = info.filename
        rel = name[len(prefix):] if name.startswith(prefix) else ""
        parts = rel.split("/")
        if not rel or rel.startswith("/") or ".." in parts or "" in parts[:-1]:
            raise BuildError(f"unexpected entry {name!r} in the toolchain zip")
        target = into / rel
        if name.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(target, 0o755 if mode & 0o111 else 0o644)
    # As `go` does after its own toolchain download: the commands are executable even
    # when a zip carries no modes.
    for sub in ("bin", "pkg/tool"):
        for path in (into / sub).rglob("*"):
            if path.is_file():
                path.chmod(0o755)


def install(arch: str, log=print) -> Path:
    """Download, verify and unpack the pinned toolchain for ``arch``; its GOROOT."""
    final = golang.toolchain_dir(arch)
    if (final / "bin" / "go").is_file():
        return final
    if arch not in golang.GO_TOOLCHAIN_SUMS:
        raise BuildError(f"no Go toolchain pinned for linux-{arch} (golang.GO_TOOLCHAIN_SUMS): "
                         f"install Go {golang.MIN_GO[0]}.{golang.MIN_GO[1]} or newer")
    want_sha, want_h1 = golang.GO_TOOLCHAIN_SUMS[arch]
    url = zip_url(arch)
    cache = golang.toolchain_cache()
    cache.mkdir(parents=True, exist_ok=True)
    log(f"==> Go {golang.GO_TOOLCHAIN}: no Go {golang.MIN_GO[0]}.{golang.MIN_GO[1]}+ installed, "
        f"fetching {url}")
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache))
    try:
        archive = work / "toolchain.zip"
        sha, size = _download(url, archive)
        if sha != want_sha:
            raise BuildError(f"{url}: sha256 {sha} is not the pinned {want_sha} "
                             f"(golang.GO_TOOLCHAIN_SUMS); refusing to unpack it")
        try:
            zf = zipfile.ZipFile(archive)
        except zipfile.BadZipFile as exc:
            raise BuildError(f"{url}: not a zip: {exc}") from None
        with zf:
            h1 = zip_dirhash(zf)
            if h1 != want_h1:
                raise BuildError(f"{url}: dirhash {h1} is not the pinned {want_h1}; refusing to unpack it")
            root = work / "go"
            _unpack(zf, f"golang.org/toolchain@{module_version(arch)}/", root)
        archive.unlink()
        if not (root / "bin" / "go").is_file():
            raise BuildError(f"{url}: the zip has no bin/go")
        try:
            os.rename(root, final)
        except OSError:
            if not (final / "bin" / "go").is_file():  # another setup won the race: keep its copy
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"==> Go {golang.GO_TOOLCHAIN} in {final} ({size / 2**20:.0f} MiB in "
        f"{time.monotonic() - started:.1f} s)")
    return final


def ensure(log=print) -> Path:
    """The go command the build will use, fetching the pinned toolchain first when no
    installed Go satisfies MIN_GO. No network access when one does."""
    go, _, seen = golang.search()
    if go is not None:
        return go
    try:
        install(golang.host_arch(), log)
    except BuildError as exc:
        raise BuildError(f"{golang.missing(seen)}, and fetching Go {golang.GO_TOOLCHAIN} "
                         f"failed: {exc}") from None
    return golang.find_go()[0]


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else ""
    if cmd not in ("ensure", "path"):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        go = ensure(log=lambda msg: print(msg, file=sys.stderr, flush=True)) if cmd == "ensure" \
            else golang.find_go()[0]
    except BuildError as exc:
        print(f"vent: {exc}", file=sys.stderr)
        return 1
    if cmd == "path":
        print(go)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
