"""`./vent setup`'s Go: the pinned toolchain from the Go module proxy when no installed
Go is new enough, verified before it is unpacked; nothing fetched when one is.

A local stand-in proxy (FakeGoProxy, on 127.0.0.1) serves a small toolchain zip built
here whose bin/go is a shell script; no test reaches the real proxy, /usr/local/go or
the real ~/.cache (every test points PATH, GO_ROOT_BIN, VENT_GO_CACHE and GOPROXY at
tmp_path)."""

from __future__ import annotations

import hashlib
import http.server
import io
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from ventlab.build import golang, toolchain

ARCH = golang.host_arch()
PREFIX = f"golang.org/toolchain@{toolchain.module_version(ARCH)}/"


def fake_go_script(version: str) -> str:
    """A stand-in `go` answering `go env GOVERSION` and `go version`."""
    return (f'#!/bin/sh\nif [ "$1" = version ]; then echo "go version {version} linux/{ARCH}"; '
            f'else echo {version}; fi\n')


def fake_toolchain_zip(version: str = f"go{golang.GO_TOOLCHAIN}", extra: dict | None = None) -> bytes:
    """A module zip laid out like golang.org/toolchain's: files under PREFIX, bin/go
    executable, with a unix mode like the real zips carry."""
    buf = io.BytesIO()
    files = {"bin/go": fake_go_script(version), "VERSION": f"{version}\n",
             "pkg/tool/linux_x/compile": "#!/bin/sh\n", "src/fmt/print.go": "package fmt\n"}
    with zipfile.ZipFile(buf, "w") as zf:
        for rel, text in {**files, **(extra or {})}.items():
            info = zipfile.ZipInfo(rel if rel.startswith("golang.org/") else PREFIX + rel)
            info.create_system = 3
            info.external_attr = (0o100755 if rel.startswith(("bin/", "pkg/tool/")) else 0o100644) << 16
            zf.writestr(info, text)
    return buf.getvalue()


def pins_for(data: bytes) -> tuple[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return hashlib.sha256(data).hexdigest(), toolchain.zip_dirhash(zf)


class FakeGoProxy:
    """Test double for proxy.golang.org: serves ``files`` ({URL path: bytes}) and
    records every request path in ``requests``."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append(self.path)
                body = fake.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mod"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def zip_path() -> str:
    return f"/mod/golang.org/toolchain/@v/{toolchain.module_version(ARCH)}.zip"


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No Go anywhere but what a test puts in tmp_path/bin; the cache in tmp_path."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setattr(golang, "GO_ROOT_BIN", tmp_path / "no-usr-local-go" / "bin" / "go")
    monkeypatch.setenv("VENT_GO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:9/unused")
    return bindir


def put_go(bindir: Path, version: str) -> Path:
    go = bindir / "go"
    go.write_text(fake_go_script(version))
    go.chmod(0o755)
    return go


def test_h1_matches_the_checksum_database():
    # sum.golang.org's line for golang.org/toolchain v0.0.1-go1.26.8.linux-amd64/go.mod
    digest = hashlib.sha256(b"module golang.org/toolchain\n").hexdigest()
    assert toolchain.h1({"go.mod": digest}) == "h1:8wlg68NqwW7eMnI1aABk/C2pDYXj8mrMY4TyRfiLeS0="


def test_pin_is_one_version_for_every_arch():
    for sha, h1 in golang.GO_TOOLCHAIN_SUMS.values():
        assert len(sha) == 64 and set(sha) <= set("0123456789abcdef")
        assert h1.startswith("h1:") and len(h1) == 47


@pytest.mark.parametrize(("goproxy", "expected"), [
    (None, "https://proxy.golang.org"),
    ("", "https://proxy.golang.org"),
    ("direct", "https://proxy.golang.org"),
    ("off", "https://proxy.golang.org"),
    ("https://athens.example/,direct", "https://athens.example"),
    ("direct|https://a.example|https://b.example", "https://a.example"),
])
def test_proxy_follows_goproxy(monkeypatch, goproxy, expected):
    if goproxy is None:
        monkeypatch.delenv("GOPROXY", raising=False)
    else:
        monkeypatch.setenv("GOPROXY", goproxy)
    assert toolchain.proxy() == expected


def test_cache_defaults_outside_the_checkout(monkeypatch, tmp_path):
    monkeypatch.delenv("VENT_GO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = tmp_path / "xdg" / "vent" / "go" / f"go{golang.GO_TOOLCHAIN}.linux-amd64"
    assert golang.toolchain_dir("amd64") == expected
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert golang.toolchain_cache() == tmp_path / "home" / ".cache" / "vent" / "go"


def test_suitable_go_is_used_without_network(isolated, monkeypatch):
    go = put_go(isolated, f"go{golang.MIN_GO[0]}.{golang.MIN_GO[1]}.0")
    with FakeGoProxy({}) as proxy:
        monkeypatch.setenv("GOPROXY", proxy.url)
        assert toolchain.ensure(log=pytest.fail) == go
    assert proxy.requests == []
    assert not golang.toolchain_cache().exists()


@pytest.mark.parametrize("installed", [None, "go1.19.8"])
def test_missing_or_old_go_fetches_verifies_and_uses_the_pin(isolated, monkeypatch, installed):
    if installed:
        put_go(isolated, installed)
    data = fake_toolchain_zip()
    monkeypatch.setitem(golang.GO_TOOLCHAIN_SUMS, ARCH, pins_for(data))
    logged = []
    with FakeGoProxy({zip_path(): data}) as proxy:
        monkeypatch.setenv("GOPROXY", f"direct,{proxy.url}/")
        go = toolchain.ensure(log=logged.append)
    assert proxy.requests == [zip_path()]
    assert go == golang.toolchain_dir(ARCH) / "bin" / "go"
    assert (go.stat().st_mode & 0o777) == 0o755
    assert (go.parent.parent / "src/fmt/print.go").read_text() == "package fmt\n"
    assert (go.parent.parent / "src/fmt/print.go").stat().st_mode & 0o111 == 0
    assert subprocess.run([go, "version"], capture_output=True, text=True, check=True).stdout.startswith(
        f"go version go{golang.GO_TOOLCHAIN} ")
    # The build finds it, and the cache holds nothing but the toolchain.
    assert golang.go_version()[2] == f"go{golang.GO_TOOLCHAIN}"
    assert golang._go() == str(go)
    assert [p.name for p in golang.toolchain_cache().iterdir()] == [go.parent.parent.name]
    assert any(proxy.url in line for line in logged)
    # A second run is quiet and offline.
    monkeypatch.setenv("GOPROXY", "http://127.0.0.1:9/unused")
    assert toolchain.ensure(log=pytest.fail) == go


def test_hash_mismatch_refuses_and_unpacks_nothing(isolated, monkeypatch):
    data = fake_toolchain_zip()
    monkeypatch.setitem(golang.GO_TOOLCHAIN_SUMS, ARCH, ("0" * 64, pins_for(data)[1]))
    with FakeGoProxy({zip_path(): data}) as proxy:
        monkeypatch.setenv("GOPROXY", proxy.url)
        sha = hashlib.sha256(data).hexdigest()
        with pytest.raises(golang.BuildError, match=rf"no `go` on PATH.*{proxy.url}.*: sha256 {sha} "
                                                    r"is not the pinned 0+ .*refusing to unpack"):
            toolchain.ensure(log=lambda msg: None)
    assert list(golang.toolchain_cache().iterdir()) == []
    with pytest.raises(golang.BuildError, match="Go is not installed"):
        golang.go_version()


def test_dirhash_mismatch_refuses(isolated, monkeypatch):
    data = fake_toolchain_zip()
    monkeypatch.setitem(golang.GO_TOOLCHAIN_SUMS, ARCH, (hashlib.sha256(data).hexdigest(), "h1:bogus="))
    with FakeGoProxy({zip_path(): data}) as proxy:
        monkeypatch.setenv("GOPROXY", proxy.url)
        with pytest.raises(golang.BuildError, match="dirhash h1:.* is not the pinned h1:bogus="):
            toolchain.ensure(log=lambda msg: None)
    assert list(golang.toolchain_cache().iterdir()) == []


def test_entry_outside_the_module_is_refused(isolated, monkeypatch):
    data = fake_toolchain_zip(extra={f"{PREFIX}../escape": "x"})
    monkeypatch.setitem(golang.GO_TOOLCHAIN_SUMS, ARCH, pins_for(data))
    with FakeGoProxy({zip_path(): data}) as proxy:
        monkeypatch.setenv("GOPROXY", proxy.url)
        with pytest.raises(golang.BuildError, match=r"unexpected entry .*\.\./escape"):
            toolchain.ensure(log=lambda msg: None)
    assert list(golang.toolchain_cache().iterdir()) == []
    assert not (golang.toolchain_cache().parent / "escape").exists()


def test_proxy_failure_names_the_url(isolated, monkeypatch):
    put_go(isolated, "go1.19.8")
    with FakeGoProxy({}) as proxy:
        monkeypatch.setenv("GOPROXY", proxy.url)
        with pytest.raises(golang.BuildError) as err:
            toolchain.ensure(log=lambda msg: None)
    text = str(err.value)
    assert "go1.19.8 at" in text and "is too old" in text
    assert f"{proxy.url}{zip_path()[len('/mod'):]} failed: HTTP 404" in text
    assert list(golang.toolchain_cache().iterdir()) == []


def test_cli_ensure_is_quiet_when_go_is_present(isolated, capfd):
    put_go(isolated, f"go{golang.GO_TOOLCHAIN}")
    assert toolchain.main(["ensure"]) == 0
    assert capfd.readouterr() == ("", "")
    assert toolchain.main(["path"]) == 0
    assert capfd.readouterr().out == f"{isolated / 'go'}\n"
