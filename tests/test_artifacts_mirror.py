"""`./vent artifacts fetch|check` against release files served on loopback (a test
double for the upstream hosts, which this machine cannot reach)."""

from __future__ import annotations

import copy
import functools
import hashlib
import http.server
import threading

import pytest

from ventlab import artifacts


@pytest.fixture
def upstream(tmp_path):
    root = tmp_path / "upstream"
    (root / "v1.0").mkdir(parents=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _settings(url, mirror, payloads):
    vent = copy.deepcopy(artifacts.settings(site=False))
    vent["artifacts"]["mirror"] = str(mirror)
    vent["artifacts"]["releases"] = {"tool": {
        "version": "1.0", "arch": {"amd64": "x86_64"},
        "files": {"tool": {"url": url + "/v{version}/tool-{arch}", "hash_type": "sha256",
                           "checksums": {"1.0": {"amd64": hashlib.sha256(payloads).hexdigest()}}}},
    }}
    return vent


def test_fetch_verifies_and_places_files_once(upstream, tmp_path):
    root, url = upstream
    (root / "v1.0" / "tool-x86_64").write_bytes(b"release bytes")
    (item,) = artifacts.plan(_settings(url, tmp_path / "mirror", b"release bytes"), ["amd64"])
    assert item["mirror"] == str(tmp_path / "mirror/tool/1.0/amd64/tool-x86_64")
    assert artifacts.fetch_one(item) == "fetched"
    assert (tmp_path / "mirror/tool/1.0/amd64/tool-x86_64").read_bytes() == b"release bytes"
    assert artifacts.fetch_one(item) == "present"


def test_fetch_rejects_a_file_that_does_not_match_the_pin(upstream, tmp_path):
    root, url = upstream
    (root / "v1.0" / "tool-x86_64").write_bytes(b"tampered")
    (item,) = artifacts.plan(_settings(url, tmp_path / "mirror", b"release bytes"), ["amd64"])
    with pytest.raises(ValueError, match="checksum mismatch"):
        artifacts.fetch_one(item)
    assert list((tmp_path / "mirror/tool/1.0/amd64").iterdir()) == []


def test_check_names_missing_and_exits_nonzero(tmp_path, capsys):
    assert artifacts.main(["check", "--arch", "amd64", "--mirror", str(tmp_path / "m")]) == 1
    out = capsys.readouterr().out
    assert "MISSING    kubernetes kube-apiserver" in out
    assert str(tmp_path / "m" / "kubernetes") in out
