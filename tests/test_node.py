"""Node preparation on this host: it is a container whose kernel cannot load modules,
so the formula must say so in its comments rather than fail on modprobe."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_node_minion import LocalMinion, changed

SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables",
           "net.ipv4.ip_forward")


def current_sysctls():
    """The host's current values: the test persists exactly these, so it never changes
    a running kernel setting that other tests share."""
    values = {}
    for key in SYSCTLS:
        path = Path("/proc/sys") / key.replace(".", "/")
        if not path.exists():
            pytest.skip(f"{path} is absent on this host")
        values[key] = int(path.read_text().split()[0])
    return values


@pytest.fixture
def minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


def node_pillar(tmp_path, **extra):
    return {"node": {"modules_load_dir": str(tmp_path / "modules-load.d"),
                     "sysctl_dir": str(tmp_path / "sysctl.d"),
                     "fstab": str(tmp_path / "fstab"), **extra}}


def in_container():
    return not Path("/proc/modules").exists() or Path("/.dockerenv").exists()


@pytest.mark.salt
def test_modules_and_sysctls_persisted_with_container_warning(minion, tmp_path):
    if not in_container():
        pytest.skip("this host can load modules; the container path is not exercised here")
    values = current_sysctls()
    vent = node_pillar(tmp_path, sysctl=values)
    states = minion.apply("node.modules.load,node.sysctl.file,node.timesync.running", vent)

    conf = (tmp_path / "modules-load.d" / "vent.conf").read_text().split("\n")
    assert "overlay" in conf and "br_netfilter" in conf
    sysctl = (tmp_path / "sysctl.d" / "90-vent.conf").read_text()
    for key, value in values.items():
        assert f"{key} = {value}\n" in sysctl
    for mod in ("overlay", "br_netfilter"):
        comment = states[f"node-modules-load-{mod}-test-succeed_without_changes"]["comment"]
        assert comment.startswith(f"WARNING: kernel module {mod} is available"), comment
        assert "loading it at boot is the host's job" in comment
    timesync = states["node-timesync-running-test-succeed_without_changes"]["comment"]
    assert "time sync left to the host" in timesync

    again = minion.apply("node.modules.load,node.sysctl.file,node.timesync.running", vent)
    assert changed(again) == {}


@pytest.mark.salt
def test_unavailable_module_in_container_fails_clearly(minion, tmp_path):
    if not in_container():
        pytest.skip("this host can load modules; the container path is not exercised here")
    vent = node_pillar(tmp_path, modules=["overlay", "vent_no_such_module"])
    states = minion.apply("node.modules.load", vent, check=False)
    failed = {k: v["comment"] for k, v in states.items() if v["result"] is False}
    assert list(failed) == ["node-modules-load-vent_no_such_module-test-fail_without_changes"]
    comment = failed["node-modules-load-vent_no_such_module-test-fail_without_changes"]
    assert "kernel module vent_no_such_module is not available and cannot be loaded here" in comment
    assert "run `modprobe vent_no_such_module` on the host" in comment


@pytest.mark.salt
def test_ipvs_mode_adds_ipvs_modules(minion, tmp_path):
    vent = {**node_pillar(tmp_path), "kubernetes": {"kube_proxy_mode": "ipvs"}}
    minion.apply("node.modules.load", vent, check=False)
    conf = (tmp_path / "modules-load.d" / "vent.conf").read_text().split()
    assert {"ip_vs", "ip_vs_rr", "nf_conntrack"} <= set(conf)


@pytest.mark.salt
def test_swap_entries_commented_out(minion, tmp_path):
    fstab = tmp_path / "fstab"
    fstab.write_text("UUID=abc / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n")
    minion.apply("node.swap.off", node_pillar(tmp_path))
    lines = fstab.read_text().splitlines()
    assert lines[0] == "UUID=abc / ext4 defaults 0 1"
    assert lines[1].startswith("# /swapfile none swap sw 0 0")
    again = minion.apply("node.swap.off", node_pillar(tmp_path))
    assert changed(again) == {}


def _packages(minion, vent):
    chunks = minion.call("state.show_sls", "node.package.install", vent=vent)
    (pkgs,) = [arg["pkgs"] for arg in chunks["node-package-install-pkg-installed"]["pkg"]
               if isinstance(arg, dict) and "pkgs" in arg]
    return pkgs


@pytest.mark.salt
def test_packages_include_what_kube_proxy_the_vxlan_guard_and_containerd_run(minion):
    """iptables is Priority: optional on Debian 12, so a minimal server may lack it;
    kube-proxy's iptables mode and flannel's VXLAN guard unit run it. nft is needed by
    kube-proxy's nftables mode only. containerd decompresses image layers with igzip
    (isal) where it finds it."""
    pkgs = _packages(minion, {})
    assert "iptables" in pkgs and "isal" in pkgs
    assert "nftables" not in pkgs
    assert "nftables" in _packages(minion, {"kubernetes": {"kube_proxy_mode": "nftables"}})
