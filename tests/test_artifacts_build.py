"""`./vent artifacts build`: the pinned releases built from their Go modules into the
mirror, recorded in BUILT.json, verified like downloaded files.

The binaries are the real upstream programs at the pinned versions; `./vent test`
builds them before the tests (cached: seconds). Set VENT_SKIP_BUILD=1 on a machine
without Go to skip the tests that need them; CI never sets it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import REPO, settings

from ventlab import artifacts
from ventlab.build import components, golang, manifest, oci
from ventlab.model import model

VENT = settings()
MIRROR = Path(model.paths(VENT)["mirror"])
ARCH = artifacts.host_arch()
RELEASES = VENT["artifacts"]["releases"]

needs_build = pytest.mark.skipif(os.environ.get("VENT_SKIP_BUILD") == "1",
                                 reason="VENT_SKIP_BUILD=1: the built release files are not made here")


def _built():
    """The manifest, failing (not skipping) when the build did not run."""
    data = manifest.read(MIRROR)
    missing = [c.name for c in components.plan(VENT) if f"{c.name}/{ARCH}" not in data["components"]]
    assert not missing, f"not built into {MIRROR}: {missing}; run `./vent artifacts build`"
    return data


# --- the plan ------------------------------------------------------------------------


def test_the_plan_is_every_release_of_the_pillar_and_nothing_else():
    planned = [c.name for c in components.plan(VENT)]
    assert planned == [name for name, rel in RELEASES.items() if rel.get("build")]
    # Every file `fetch` would download and every image the cluster runs has a build.
    assert set(planned) == set(RELEASES)


def test_unknown_component_is_refused_naming_the_known_ones():
    with pytest.raises(golang.BuildError, match="no release named nope .*known: agnhost"):
        components.plan(VENT, ["nope"])


def test_staging_replaces_are_generated_from_the_module_go_mod():
    gomod = ("module k8s.io/kubernetes\n\ngo 1.26.0\n\nrequire (\n\tk8s.io/api v0.0.0\n)\n\n"
             "replace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n"
             "\tk8s.io/kms => ./staging/src/k8s.io/kms\n\tgithub.com/x/y => github.com/x/z v1.0.0\n)\n")
    assert golang.staging_replaces(gomod, "v1.37.1") == {"k8s.io/api": "v0.37.1", "k8s.io/kms": "v0.37.1"}
    with pytest.raises(golang.BuildError, match="not a v1.<minor>.<patch>"):
        golang.staging_replaces(gomod, "v1.37.1-rc.0")


def test_the_wrapper_module_pins_exactly_the_modules_and_their_go_lines(tmp_path):
    gomod = tmp_path / "go.mod"
    gomod.write_text("module m\n\ngo 1.26.0\n\ngodebug default=go1.26\n")
    mod = golang.ModuleInfo("k8s.io/kubernetes", "v1.37.1", "abc", "2026-09-23T17:06:22Z", gomod, tmp_path)
    text = golang.wrapper_gomod("kubernetes", [mod], {"k8s.io/api": "v0.37.1"})
    assert "go 1.26.0\ngodebug default=go1.26" in text
    assert "\tk8s.io/kubernetes v1.37.1\n" in text
    assert "\tk8s.io/api => k8s.io/api v0.37.1\n" in text


def test_a_changed_pin_changes_only_that_components_build_key():
    mod = golang.ModuleInfo("sigs.k8s.io/cri-tools", "v1.36.0", "", "", Path("/dev/null"), Path("/"))
    crictl = components.plan(VENT, ["crictl"])[0]
    key = components.build_key(crictl, VENT, ARCH, [mod], "go1.26.8")
    assert key == components.build_key(crictl, VENT, ARCH, [mod], "go1.26.8")
    other = copy.deepcopy(VENT)
    other["artifacts"]["releases"]["etcd"]["version"] = "9.9.9"
    assert components.build_key(components.plan(other, ["crictl"])[0], other, ARCH, [mod], "go1.26.8") == key
    other["artifacts"]["releases"]["crictl"]["version"] = "1.36.1"
    assert components.build_key(components.plan(other, ["crictl"])[0], other, ARCH, [mod], "go1.26.8") != key


# --- clear errors ----------------------------------------------------------------------


@pytest.mark.parametrize(("stderr", "expected"), [
    ("go: example.com/m@v1.2.3: reading https://proxy.golang.org/...: 403 Forbidden\n\tserver response: "
     "This module version is not available.", "is not served by the Go module proxy"),
    ("go: example.com/m@v1.2.3: Get \"https://proxy.golang.org/...\": dial tcp: lookup proxy.golang.org: "
     "no such host", "is unreachable while fetching example.com/m@v1.2.3"),
    ("write /srv/x: no space left on device", "disk full"),
])
def test_go_failures_are_named(stderr, expected):
    assert expected in golang.explain(stderr, "example.com/m@v1.2.3")


def test_go_missing_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(golang, "GO_ROOT_BIN", Path("/nonexistent/go"))
    monkeypatch.setenv("VENT_GO_CACHE", str(tmp_path))
    with pytest.raises(golang.BuildError, match="Go is not installed"):
        golang.go_version()


def test_low_disk_space_is_named_before_anything_is_written(monkeypatch, tmp_path):
    monkeypatch.setattr(components, "NEED_MIRROR_BYTES", 1 << 60)
    with pytest.raises(golang.BuildError, match=f"disk space low: .* free at {tmp_path}"):
        components.check_space(tmp_path)
    assert list(tmp_path.iterdir()) == []


# --- what was built --------------------------------------------------------------------


def _unpack(item: dict, dest: Path) -> Path:
    path = Path(item["mirror"])
    if item["members"]:
        with tarfile.open(path) as tar:
            tar.extractall(dest)  # noqa: S202 (our own build's archive)
        return dest
    return path


VERSION_COMMANDS = [
    ("kubernetes", "kube-apiserver", None, ["--version"], "Kubernetes v{version}"),
    ("kubernetes", "kubectl", None, ["version", "--client"], "Client Version: v{version}"),
    ("kubernetes", "kubelet", None, ["--version"], "Kubernetes v{version}"),
    ("etcd", "etcd", "etcd-v{version}-linux-{arch}/etcd", ["--version"], "etcd Version: {version}"),
    ("containerd", "containerd", "bin/containerd", ["--version"], " v{version}"),
    ("runc", "runc", None, ["--version"], "runc version {version}"),
    ("crictl", "crictl", "crictl", ["--version"], "crictl version v{version}"),
    ("cni_plugins", "cni-plugins", "bridge", [], "CNI bridge plugin v{version}"),
    ("flannel_cni_plugin", "cni-plugins", "flannel", [], "CNI flannel plugin v{version}"),
    ("gvisor", "runsc", None, ["--version"], "runsc version release-{version}"),
]


@needs_build
@pytest.mark.parametrize(("component", "file", "member", "args", "expected"), VERSION_COMMANDS,
                         ids=[f"{c[0]}-{c[1]}" for c in VERSION_COMMANDS])
def test_built_binaries_report_the_pinned_version(tmp_path, component, file, member, args, expected):
    _built()
    item = model.artifact(VENT, component, file, ARCH)
    root = _unpack(item, tmp_path)
    version = str(RELEASES[component]["version"])
    binary = root / member.format(version=version, arch=ARCH) if item["members"] else root
    out = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)
    assert expected.format(version=version) in out.stdout + out.stderr


@needs_build
@pytest.mark.parametrize(("component", "binary", "args", "expected"), [
    ("flannel", "/opt/bin/flanneld", ["--version"], "v{version}"),
    ("coredns", "/coredns", ["-version"], "CoreDNS-{version}"),
    ("agnhost", "/agnhost", ["--version"], ""),
])
def test_images_carry_the_built_program(tmp_path, component, binary, args, expected):
    data = _built()
    entry = data["components"][f"{component}/{ARCH}"]
    (image,) = entry["images"].values()
    assert image["ref"] == RELEASES[component]["image"].format(version=RELEASES[component]["version"])
    layout = tmp_path / "layout"
    with tarfile.open(MIRROR / image["path"]) as tar:
        tar.extractall(layout)  # noqa: S202 (our own build's image)
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image["digest"]
    man = json.loads((layout / "blobs" / "sha256" / image["digest"].split(":")[1]).read_text())
    rootfs = tmp_path / "rootfs"
    with tarfile.open(layout / "blobs" / "sha256" / man["layers"][0]["digest"].split(":")[1]) as tar:
        # Our own build's layer: its symlinks point inside the image root.
        tar.extractall(rootfs)  # noqa: S202
    program = rootfs / binary.lstrip("/")
    out = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert expected.format(version=RELEASES[component]["version"]) in out.stdout + out.stderr


@needs_build
def test_check_reports_every_file_valid_then_a_corrupt_and_a_missing_one(tmp_path, capsys):
    _built()
    assert artifacts.main(["check"]) == 0
    assert "ok-built" in capsys.readouterr().out
    copy_root = tmp_path / "mirror"
    copy_root.mkdir()
    shutil.copy(MIRROR / manifest.NAME, copy_root / manifest.NAME)
    kubelet = Path(model.artifact(VENT, "kubernetes", "kubelet", ARCH)["mirror"])
    target = copy_root / kubelet.relative_to(MIRROR)
    target.parent.mkdir(parents=True)
    data = bytearray(kubelet.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    assert artifacts.main(["check", "--mirror", str(copy_root)]) == 1
    out = capsys.readouterr().out
    assert "CORRUPT    kubernetes kubelet" in out
    assert "MISSING    kubernetes kube-apiserver" in out


@needs_build
def test_a_second_build_with_nothing_changed_rebuilds_nothing():
    proc = subprocess.run([sys.executable, "-m", "ventlab.artifacts", "build"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    states = [line.split()[0] for line in proc.stdout.splitlines() if line and not line.startswith("build")]
    assert states and set(states) == {"cached"}, proc.stdout


def test_oci_image_digest_depends_only_on_its_inputs(tmp_path):
    payload = tmp_path / "prog"
    payload.write_bytes(b"#!/bin/true\n")
    payload.chmod(0o755)
    tree = {"bin/prog": payload, "bin/link": "->prog", "tmp": None}
    def write(name):
        return oci.write_image(tmp_path / name, "example.test/prog:1", tree, arch="amd64",
                               entrypoint=["/bin/prog"])

    first = write("a.tar")
    assert write("b.tar") == first and first.startswith("sha256:")
    payload.write_bytes(b"#!/bin/false\n")
    assert write("c.tar") != first


def test_manifest_becomes_the_built_pillar():
    data = {"components": {"crictl/amd64": {
        "version": "1.36.0", "files": {"crictl": {"name": "crictl", "arch": "amd64", "sha256": "ab"}},
        "images": {}},
        "pause/amd64": {"version": "3.10.2", "files": {}, "images": {
            "registry.k8s.io/pause:3.10.2": {"arch": "amd64", "digest": "sha256:cd"}}}}}
    assert manifest.pillar(data) == {
        "crictl": {"1.36.0": {"files": {"crictl": {"amd64": "ab"}}}},
        "pause": {"3.10.2": {"images": {"amd64": "sha256:cd"}}},
    }
    vent = settings({"artifacts": {"built": manifest.pillar(data)}})
    assert model.artifact(vent, "crictl", "crictl", "amd64")["source_hash"] == "sha256=ab"
    assert model.artifact(vent, "crictl", "crictl", "amd64")["sources"] == [
        "file://" + model.artifact(VENT, "crictl", "crictl", "amd64")["mirror"]]
    assert model.image(vent, "pause", "amd64") == "registry.k8s.io/pause:3.10.2@sha256:cd"
    # Another version than the one built: the published checksum, not the built one.
    vent["artifacts"]["releases"]["crictl"]["version"] = "1.36.0"
    other = copy.deepcopy(vent)
    other["artifacts"]["built"]["crictl"] = {"1.35.0": other["artifacts"]["built"]["crictl"]["1.36.0"]}
    assert model.artifact(other, "crictl", "crictl", "amd64")["origin"] == "published"
