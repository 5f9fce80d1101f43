"""vent_artifact.installed on one masterless minion kept across runs (its cache
directory holds what was verified). A plain binary: installed from the mirror with its
checksum, left alone when in place, and put back when the file changed. An archive:
unpacked once per version, only the members the release lists, owned by root, and
nothing at all when its checksum does not match."""

from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import io
import json
import os
import shutil
import tarfile
import threading
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import REPO, minion_overrides, pillar_dir, settings

from ventlab import saltconfig

pytestmark = pytest.mark.salt

VERSION = settings()["artifacts"]["releases"]["kubernetes"]["version"]
RELEASE = b"#!/bin/sh\necho kubectl stand-in for this unit test\n"
CRICTL = settings()["artifacts"]["releases"]["crictl"]["version"]
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@pytest.fixture(scope="module")
def env(salt_factories, tmp_path_factory):
    arch = ARCH[os.uname().machine]  # the minion's osarch grain, which picks the mirror path
    tmp = tmp_path_factory.mktemp("artifact")
    mirror = tmp / "mirror"
    source = mirror / "kubernetes" / VERSION / arch / "kubectl"
    source.parent.mkdir(parents=True)
    source.write_bytes(RELEASE)
    checksum = hashlib.sha256(RELEASE).hexdigest()
    archive = mirror / "crictl" / CRICTL / arch / f"crictl-v{CRICTL}-linux-{arch}.tar.gz"
    archive.parent.mkdir(parents=True)
    archive.write_bytes(tar_gz({"LICENSE": (b"not listed by the release\n", 0o644),
                                "crictl": (RELEASE, 0o775)}))
    archive_checksum = hashlib.sha256(archive.read_bytes()).hexdigest()
    site = {"vent": {"artifacts": {
        "mirror": str(mirror), "allow_download": False,
        "releases": {"kubernetes": {"files": {"kubectl": {"checksums": {VERSION: {arch: checksum}}}}},
                     "crictl": {"files": {"crictl": {"checksums": {CRICTL: {arch: archive_checksum}}}}}},
    }}}
    pillar = pillar_dir(tmp, site=yaml.safe_dump(site))
    paths = saltconfig.minion_paths(REPO)
    paths.pop("root_dir")
    paths.pop("user")
    minion = salt_factories.salt_minion_daemon(
        f"artifact-{uuid.uuid4().hex[:6]}",
        overrides={**paths, **minion_overrides(["worker"]), "file_client": "local",
                   "pillar_roots": {"base": [str(pillar)]}})
    bin_dir = tmp / "bin"
    yield {"minion": minion, "bin": bin_dir, "checksum": checksum, "archive": archive, "tmp": tmp,
           "site": site, "site_file": pillar / "site.sls"}


def tar_gz(files: dict) -> bytes:
    """A release-like archive: ``{name: (bytes, mode)}``, owned by a build user's uid."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), mode, 1001, 1001
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def install(env, component="kubernetes", file="kubectl", *extra, expect=True):
    ret = env["minion"].salt_call_cli(timeout=240).run(
        "--local", "state.single", "vent_artifact.installed", f"name={file}", f"component={component}",
        f"file={file}", f"bin_dir={env['bin']}", *extra)
    assert isinstance(ret.data, dict), ret.stdout + ret.stderr
    (result,) = ret.data.values()
    assert result["result"] is expect, result["comment"]
    return result


def record_file(env) -> Path:
    return Path(env["minion"].config["cachedir"]) / "vent_artifact" / "verified.json"


def verified(env):
    return json.loads(record_file(env).read_text())


def test_installed_then_left_alone_then_put_back_when_changed(env):
    target = env["bin"] / "kubectl"
    first = install(env)
    assert str(target) in first["changes"]
    assert target.read_bytes() == RELEASE
    assert oct(target.stat().st_mode & 0o777) == "0o755"

    again = install(env)
    assert again["changes"] == {}
    record = verified(env)[str(target)]
    assert record["source_hash"] == f"sha256={env['checksum']}"
    assert record["stamp"][1:3] == [target.stat().st_ino, len(RELEASE)]

    target.write_bytes(RELEASE.replace(b"stand-in", b"tampered"))  # same size, new bytes
    restored = install(env)
    assert str(target) in restored["changes"]
    assert target.read_bytes() == RELEASE

    target.chmod(0o700)
    fixed = install(env)
    assert fixed["changes"] == {str(target): {"mode": "0755"}}
    assert oct(target.stat().st_mode & 0o777) == "0o755"
    assert install(env)["changes"] == {}


def test_a_matching_record_spares_the_hash(env):
    """The record is what spares the hash: with bytes that do not match but a record
    that matches the file's stat, nothing is read and nothing changes (the record lives
    in the minion's root-only cache; any write to the file moves its ctime)."""
    target = env["bin"] / "kubectl"
    install(env)
    target.write_bytes(b"x" * len(RELEASE))
    st = target.stat()
    records = verified(env)
    records[str(target)]["stamp"] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    record_file(env).write_text(json.dumps(records))
    assert install(env)["changes"] == {}
    assert target.read_bytes() == b"x" * len(RELEASE)
    target.write_bytes(RELEASE)  # leave the file as the release


def test_an_archive_is_unpacked_once_with_only_the_listed_members(env):
    unpack = env["tmp"] / "unpack"
    first = install(env, "crictl", "crictl", f"unpack_root={unpack}")
    version_dir = unpack / "crictl" / CRICTL
    assert first["changes"][str(version_dir)] == {"unpacked": ["crictl"]}
    assert sorted(p.name for p in version_dir.iterdir()) == ["crictl"]  # no LICENSE
    unpacked = version_dir / "crictl"
    assert unpacked.read_bytes() == RELEASE
    st = unpacked.stat()
    assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (0, 0, "0o755")  # not the archive's
    assert os.readlink(env["bin"] / "crictl") == str(unpacked)
    assert install(env, "crictl", "crictl", f"unpack_root={unpack}")["changes"] == {}


def test_an_archive_that_fails_its_checksum_leaves_nothing(env):
    unpack = env["tmp"] / "unpack-bad"
    good = env["archive"].read_bytes()
    tampered = tar_gz({"crictl": (b"#!/bin/sh\necho tampered\n", 0o755)})
    env["archive"].write_bytes(tampered)
    try:
        failed = install(env, "crictl", "crictl", f"unpack_root={unpack}", expect=False)
    finally:
        env["archive"].write_bytes(good)
    key = "vent:artifacts:releases:crictl:files:crictl"
    assert failed["comment"].startswith(f"could not unpack {key} {CRICTL}")
    assert (f"{env['archive']} does not match the pinned hash: it has sha256 "
            f"{hashlib.sha256(tampered).hexdigest()}") in failed["comment"]
    left = list(unpack.rglob("*")) if unpack.exists() else []
    assert [p for p in left if p.is_file() or p.name == CRICTL or p.name.startswith(".unpack-")] == []


def test_a_binary_that_fails_its_checksum_is_not_put_in_place(env, tmp_path):
    source = env["tmp"] / "mirror" / "kubernetes" / VERSION / ARCH[os.uname().machine] / "kubectl"
    bin_dir = tmp_path / "bin"
    source.write_bytes(RELEASE.replace(b"stand-in", b"tampered"))
    try:
        ret = env["minion"].salt_call_cli(timeout=240).run(
            "--local", "state.single", "vent_artifact.installed", "name=kubectl",
            "component=kubernetes", "file=kubectl", f"bin_dir={bin_dir}")
    finally:
        source.write_bytes(RELEASE)
    (result,) = ret.data.values()
    assert result["result"] is False
    key = "vent:artifacts:releases:kubernetes:files:kubectl"
    assert result["comment"].startswith(f"could not install {key} {VERSION}")
    assert f"{source} does not match the pinned hash: it has sha256 " in result["comment"]
    assert list(bin_dir.iterdir()) == []  # neither the file nor a partial copy


@pytest.fixture
def upstream(tmp_path):
    """A loopback HTTP server standing in for the release URL: files put in its root."""
    root = tmp_path / "upstream"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_download_that_fails_its_hash_is_not_kept_and_is_fetched_again(env, upstream, tmp_path):
    root, url = upstream
    site = json.loads(json.dumps(env["site"]))
    site["vent"]["artifacts"].update(allow_download=True, mirror=str(tmp_path / "empty-mirror"))
    release = site["vent"]["artifacts"]["releases"]["crictl"]["files"]["crictl"]
    release["url"] = url + "/crictl-{version}.tar.gz"
    unpack = tmp_path / "unpack"
    served = root / f"crictl-{CRICTL}.tar.gz"
    served.write_bytes(tar_gz({"crictl": (b"#!/bin/sh\necho tampered\n", 0o755)}))
    env["site_file"].write_text(yaml.safe_dump(site))
    try:
        failed = install(env, "crictl", "crictl", f"unpack_root={unpack}", expect=False)
        assert "does not match the pinned hash" in failed["comment"]
        assert list(Path(env["minion"].config["cachedir"]).rglob(served.name)) == []

        served.write_bytes(env["archive"].read_bytes())
        done = install(env, "crictl", "crictl", f"unpack_root={unpack}")
    finally:
        env["site_file"].write_text(yaml.safe_dump(env["site"]))
    assert done["changes"][str(unpack / "crictl" / CRICTL)] == {"unpacked": ["crictl"]}
    assert (unpack / "crictl" / CRICTL / "crictl").read_bytes() == RELEASE


def _unpack():
    path = REPO / "salt" / "_states" / "vent_artifact.py"
    spec = importlib.util.spec_from_file_location("vent_artifact_state", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._unpack


def test_unpack_refuses_a_listed_member_that_is_a_link(tmp_path):
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("bin/tool")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(link)
    with pytest.raises(ValueError, match="bin/tool is not a regular file"):
        _unpack()(str(archive), str(tmp_path / "out" / "1.0"), ["bin/tool"])
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.parametrize("member", ["/bin/tool", "../tool", "bin/../../tool"])
def test_unpack_refuses_a_member_path_that_leaves_the_directory(tmp_path, member):
    with pytest.raises(ValueError, match="is not a plain relative path"):
        _unpack()(str(tmp_path / "missing.tar"), str(tmp_path / "out" / "1.0"), [member])


def test_unpack_names_the_members_the_archive_lacks(tmp_path):
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz({"bin/one": (b"1", 0o755)}))
    with pytest.raises(ValueError, match="the archive lacks bin/two"):
        _unpack()(str(archive), str(tmp_path / "out" / "1.0"), ["bin/one", "bin/two"])
    assert list((tmp_path / "out").iterdir()) == []


def _igzip_or_not(monkeypatch, tmp_path, igzip):
    """With ``igzip``: the host's isal (requirements.apt, as the node formula installs
    it on nodes); without: a PATH where there is none."""
    if igzip:
        assert shutil.which("igzip"), "isal is in requirements.apt: run ./vent setup"
    else:
        empty = tmp_path / "empty-path"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))


@pytest.mark.parametrize("igzip", [True, False], ids=["igzip", "python-gzip"])
def test_unpack_reads_a_gzip_archive_alike_with_or_without_igzip(tmp_path, monkeypatch, igzip):
    _igzip_or_not(monkeypatch, tmp_path, igzip)
    big = os.urandom(1 << 20)  # beyond a pipe's buffer: the stream is read while igzip writes
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz({"bin/one": (big, 0o775), "bin/two": (b"2", 0o700),
                                "bin/three": (b"3", 0o755)}))
    out = tmp_path / "out" / "1.0"
    _unpack()(str(archive), str(out), ["bin/two", "bin/one"])  # stops before bin/three
    assert sorted(p.name for p in (out / "bin").iterdir()) == ["one", "two"]
    assert (out / "bin" / "one").read_bytes() == big
    assert [oct((out / "bin" / n).stat().st_mode & 0o777) for n in ("one", "two")] == ["0o755", "0o700"]


def test_a_gzip_archive_igzip_cannot_read_fails_with_its_message(tmp_path, monkeypatch):
    _igzip_or_not(monkeypatch, tmp_path, True)
    whole = tar_gz({"bin/one": (os.urandom(1 << 20), 0o755)})
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"cut.tar.gz could not be read: .* \(igzip: .*complete gzip file"):
        _unpack()(str(archive), str(tmp_path / "out" / "1.0"), ["bin/one"])
    assert list((tmp_path / "out").iterdir()) == []
