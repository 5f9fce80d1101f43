"""The CNI formula: conflicting leftover configs go, the operator's stay; the release
path unpacks a checksummed archive and links the plugins; a missing or corrupt release
fails naming its artifact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from conftest import settings
from test_node_minion import LocalMinion, changed

VERSION = settings()["artifacts"]["releases"]["cni_plugins"]["version"]

pytestmark = pytest.mark.salt


@pytest.fixture
def minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


def test_only_known_conflicting_configs_are_removed(minion, tmp_path):
    conf = tmp_path / "net.d"
    conf.mkdir()
    for name in ("10-containerd-net.conflist", "87-podman-bridge.conflist",
                 "10-flannel.conflist", "05-operator.conflist"):
        (conf / name).write_text("{}")
    vent = {"cni": {"conf_dir": str(conf)}}
    minion.apply("cni.config.clean_conflicts", vent)
    assert sorted(p.name for p in conf.iterdir()) == ["05-operator.conflist", "10-flannel.conflist"]
    assert changed(minion.apply("cni.config.clean_conflicts", vent)) == {}


def test_missing_plugins_release_names_the_artifact(minion, tmp_path):
    bin_dir = tmp_path / "cni-bin"
    states = minion.apply("cni", {"cni": {"bin_dir": str(bin_dir), "conf_dir": str(tmp_path / "net.d")}},
                          check=False)
    failed = [v["comment"] for v in states.values() if v["result"] is False]
    assert len(failed) == 1, failed
    assert f"vent:artifacts:releases:cni_plugins:files:cni-plugins (version {VERSION})" in failed[0]
    assert not bin_dir.exists()


DEBIAN_CNI = Path("/usr/lib/cni")
PLUGINS = ("bridge", "host-local", "loopback", "portmap")


def release_like_archive(mirror: Path) -> str:
    """Debian's real plugins packed the way the upstream release is (members "./name")
    at the mirror path the pinned version expects; returns its sha256."""
    missing = [p for p in PLUGINS if not (DEBIAN_CNI / p).exists()]
    if missing:
        pytest.skip(f"{DEBIAN_CNI} lacks {missing} (Debian package containernetworking-plugins)")
    target = mirror / "cni_plugins" / VERSION / "amd64" / f"cni-plugins-linux-amd64-v{VERSION}.tgz"
    target.parent.mkdir(parents=True)
    with tarfile.open(target, "w:gz") as tgz:
        for name in PLUGINS:
            tgz.add(str(DEBIAN_CNI / name), arcname=f"./{name}")
    return hashlib.sha256(target.read_bytes()).hexdigest()


def release_pillar(tmp_path, checksum):
    return {
        "cni": {"bin_dir": str(tmp_path / "cni-bin")},
        "artifacts": {"unpack_root": str(tmp_path / "opt"),
                      "releases": {"cni_plugins": {"files": {"cni-plugins": {
                          "checksums": {VERSION: {"amd64": checksum}}}}}}},
    }


def test_release_archive_unpacked_and_linked(minion, tmp_path):
    if os.uname().machine != "x86_64":
        pytest.skip("the archive is built at the amd64 mirror path")
    vent = release_pillar(tmp_path, release_like_archive(minion.mirror))
    minion.apply("cni.package.install", vent)
    for name in PLUGINS:
        link = tmp_path / "cni-bin" / name
        assert link.resolve() == tmp_path / "opt" / "cni_plugins" / VERSION / name
    out = subprocess.run([str(tmp_path / "cni-bin" / "bridge")], env={"CNI_COMMAND": "VERSION"},
                         capture_output=True, text=True, timeout=10)
    assert "0.4.0" in json.loads(out.stdout)["supportedVersions"]
    assert changed(minion.apply("cni.package.install", vent)) == {}
    minion.apply("cni.package.clean", vent)
    assert list((tmp_path / "cni-bin").iterdir()) == []
    assert not (tmp_path / "opt" / "cni_plugins" / VERSION).exists()


def test_corrupt_release_archive_names_the_artifact(minion, tmp_path):
    if os.uname().machine != "x86_64":
        pytest.skip("the archive is built at the amd64 mirror path")
    release_like_archive(minion.mirror)
    states = minion.apply("cni.package.install", release_pillar(tmp_path, "0" * 64), check=False)
    failed = {k: v["comment"] for k, v in states.items() if v["result"] is False}
    comment = failed.pop("cni-package-install-plugins-vent_artifact-installed")
    assert comment.startswith(
        f"could not unpack vent:artifacts:releases:cni_plugins:files:cni-plugins {VERSION}")
    assert "0" * 64 in comment
    assert failed == {}
    assert not (tmp_path / "cni-bin").exists()
