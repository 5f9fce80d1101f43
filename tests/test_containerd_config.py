"""containerd's config.toml and registry hosts files as the containerd formula renders
them, parsed with tomllib; and gVisor's missing artifacts failing on their own."""

from __future__ import annotations

import subprocess
import tomllib

import pytest
from conftest import settings
from test_node_minion import LocalMinion, changed

from ventlab.model import model

RELEASES = settings()["artifacts"]["releases"]

CRI = ("plugins", "io.containerd.grpc.v1.cri")


@pytest.fixture
def minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


def dig(doc, *keys):
    for key in keys:
        doc = doc[key]
    return doc


def render(minion, tmp_path, check=True, sls="containerd.config.file", **vent):
    conf = tmp_path / "containerd"
    vent = {"containerd": {"config_dir": str(conf), **vent.pop("containerd", {})}, **vent}
    states = minion.apply(sls, vent, check=check)
    path = conf / "config.toml"
    return states, (tomllib.loads(path.read_text()) if path.exists() else None)


@pytest.mark.salt
def test_defaults_systemd_runc_and_runsc(minion, tmp_path):
    states, doc = render(minion, tmp_path)
    assert changed(states)
    cri = dig(doc, *CRI)
    assert doc["version"] == 2
    assert cri["sandbox_image"] == model.image(settings(), "pause", "amd64")
    runtimes = cri["containerd"]["runtimes"]
    assert cri["containerd"]["default_runtime_name"] == "runc"
    # Compressed layers go once unpacked: each layer is kept once on the node.
    assert cri["containerd"]["discard_unpacked_layers"] is True
    assert runtimes["runc"]["runtime_type"] == "io.containerd.runc.v2"
    assert runtimes["runc"]["options"]["SystemdCgroup"] is True
    assert runtimes["runc"]["options"]["BinaryName"] == "/usr/local/sbin/runc"
    assert runtimes["runsc"]["runtime_type"] == "io.containerd.runsc.v1"
    # runsc, like runc, uses systemd's cgroups only when told: without it pod limits
    # are not enforced on a systemd host (gVisor issue 10371).
    runsc_toml = tmp_path / "containerd" / "runsc.toml"
    assert runtimes["runsc"]["options"] == {"TypeUrl": "io.containerd.runsc.v1.options",
                                            "ConfigPath": str(runsc_toml)}
    assert tomllib.loads(runsc_toml.read_text()) == {"runsc_config": {"systemd-cgroup": "true"}}
    assert cri["cni"] == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}
    assert cri["registry"]["config_path"] == str(tmp_path / "containerd" / "certs.d")
    again, _ = render(minion, tmp_path)
    assert changed(again) == {}
    minion.apply("containerd.config.clean", {"containerd": {"config_dir": str(tmp_path / "containerd")}})
    assert list((tmp_path / "containerd").iterdir()) == []


@pytest.mark.salt
def test_lab_pillar_cgroupfs_no_gvisor_mirrors(minion, tmp_path):
    mirrors = {"docker.io": ["http://198.18.0.1:5000"],
               "registry.k8s.io": ["http://198.18.0.1:5000/v2/registry.k8s.io"]}
    _, doc = render(
        minion, tmp_path,
        containerd={"cgroup_driver": "cgroupfs", "registry_mirrors": mirrors},
        runc={"install": "package"}, gvisor={"enabled": False},
    )
    cri = dig(doc, *CRI)
    # The pause image is the pinned release, by digest.
    assert cri["sandbox_image"] == model.image(settings(), "pause", "amd64")
    runtimes = cri["containerd"]["runtimes"]
    assert set(runtimes) == {"runc"}
    assert runtimes["runc"]["options"] == {"BinaryName": "/usr/sbin/runc", "SystemdCgroup": False}
    hosts_dir = tmp_path / "containerd" / "certs.d"
    docker = tomllib.loads((hosts_dir / "docker.io" / "hosts.toml").read_text())
    assert docker["server"] == "https://registry-1.docker.io"
    assert list(docker["host"]) == ["http://198.18.0.1:5000"]
    assert "override_path" not in docker["host"]["http://198.18.0.1:5000"]
    k8s = tomllib.loads((hosts_dir / "registry.k8s.io" / "hosts.toml").read_text())
    # A namespace of a shared mirror: its URL is the API root, taken as is.
    assert k8s["host"] == {"http://198.18.0.1:5000/v2/registry.k8s.io": {
        "capabilities": ["pull", "resolve"], "override_path": True}}

    # A registry dropped from pillar is no longer mirrored.
    render(minion, tmp_path, containerd={"registry_mirrors": {"docker.io": mirrors["docker.io"]}})
    assert sorted(p.name for p in hosts_dir.iterdir()) == ["docker.io"]


@pytest.mark.salt
def test_a_site_may_keep_compressed_layers(minion, tmp_path):
    _, doc = render(minion, tmp_path, containerd={"discard_unpacked_layers": False})
    assert dig(doc, *CRI)["containerd"]["discard_unpacked_layers"] is False


@pytest.mark.salt
def test_bad_cgroup_driver_names_the_pillar_key(minion, tmp_path):
    states, doc = render(minion, tmp_path, check=False, containerd={"cgroup_driver": "cgroupv2"})
    (comment,) = [v["comment"] for v in states.values() if v["result"] is False]
    assert comment.startswith("vent:containerd:cgroup_driver: cgroupv2")
    assert doc is None


@pytest.mark.salt
def test_missing_runsc_fails_only_the_gvisor_part(minion, tmp_path):
    """Debian's containerd and runc are there; gVisor's binaries are not in the mirror:
    the two gVisor states fail naming their artifacts, everything else applies."""
    bin_dir = tmp_path / "bin"
    states, doc = render(
        minion, tmp_path, check=False, sls="containerd.gvisor.install,containerd.config.file",
        containerd={"install": "package"}, runc={"install": "package"},
        kubernetes={"dirs": {"bin": str(bin_dir)}},
    )
    failed = sorted(v["comment"] for v in states.values() if v["result"] is False)
    assert len(failed) == 2, failed
    version = RELEASES["gvisor"]["version"]
    assert f"vent:artifacts:releases:gvisor:files:containerd-shim-runsc-v1 (version {version})" in failed[0]
    assert f"vent:artifacts:releases:gvisor:files:runsc (version {version})" in failed[1]
    assert "runsc" in dig(doc, *CRI)["containerd"]["runtimes"]
    assert not bin_dir.exists()


@pytest.mark.salt
def test_missing_containerd_release_fails_fast(minion, tmp_path):
    states, doc = render(minion, tmp_path, check=False, sls="containerd")
    failed = [v["comment"] for v in states.values() if v["result"] is False]
    assert len(failed) == 1, failed
    version = RELEASES["containerd"]["version"]
    assert f"vent:artifacts:releases:containerd:files:containerd (version {version})" in failed[0]
    assert doc is None


@pytest.mark.salt
def test_debian_containerd_1x_is_refused_for_the_pinned_kubernetes(minion, tmp_path):
    """Kubernetes after 1.35 does not support containerd 1.x; Debian 12 ships 1.6. The
    refusal names the key and the versions it comes from, and installs nothing."""
    query = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "containerd"],
                           capture_output=True, text=True)
    offered = query.stdout.strip() if query.returncode == 0 else ""
    # ./vent setup installs Debian's containerd (requirements.apt).
    assert offered and int(offered.split(":")[-1].split(".")[0]) < 2, \
        f"this host's containerd package is {offered or 'not installed'}, not Debian's 1.x"
    states, _ = render(minion, tmp_path, check=False, sls="containerd.package.install",
                       containerd={"install": "package"})
    (comment,) = [v["comment"] for v in states.values() if v["result"] is False]
    kubernetes = RELEASES["kubernetes"]["version"]
    assert comment.startswith("vent:containerd:install: package would install Debian's "
                              f"containerd {offered}"), comment
    assert "Kubernetes after 1.35 needs containerd 2 or later" in comment
    assert f"vent:artifacts:releases:kubernetes:version is {kubernetes}" in comment
    assert f"containerd {RELEASES['containerd']['version']}" in comment
    assert changed(states) == {}


@pytest.mark.salt
def test_runsc_keeps_its_defaults_with_cgroupfs(minion, tmp_path):
    """With the cgroupfs driver runsc's default (no systemd cgroups) is the right one:
    no options, no runsc.toml; one left from a systemd setting goes."""
    render(minion, tmp_path)
    states, doc = render(minion, tmp_path, containerd={"cgroup_driver": "cgroupfs"})
    runsc = dig(doc, *CRI)["containerd"]["runtimes"]["runsc"]
    assert runsc == {"runtime_type": "io.containerd.runsc.v1"}
    assert not (tmp_path / "containerd" / "runsc.toml").exists()
    again, _ = render(minion, tmp_path, containerd={"cgroup_driver": "cgroupfs"})
    assert changed(again) == {}
