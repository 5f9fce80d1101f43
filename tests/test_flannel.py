"""flannel's node side applied by real Salt on this host, into pillar-chosen
directories: its CNI plugin installed only with the pinned checksum, the conflist
flannel + portmap, zero changes on a second run, and clean taking both back."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path

from conftest import REPO
from test_manifests import LAB_GRAINS, salt_call

RELEASE = "vent:artifacts:releases:flannel_cni_plugin"
NODE_SLS = "flannel.package.install,flannel.config.file"
CLEAN_SLS = "flannel.config.clean,flannel.package.clean"
VERSION = "0.9.1"
# Test data standing in for the plugin's bytes: packed, hashed and copied like the
# release archive, never executed, so the install path (mirror, checksum, member,
# mode, idempotence) is what is tested.
BLOB = b"vent test blob: not the flannel CNI plugin\n"


def _archive(data: bytes = BLOB) -> bytes:
    """A release archive like cni-plugins-linux-<arch>-v<version>.tgz, with ./flannel."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo("./flannel")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


ARCHIVE = _archive()


def _site(tmp_path: Path, checksum: str, allow_download: str = "false") -> str:
    return f"""
vent:
  cni:
    bin_dir: {tmp_path}/opt/cni/bin
    conf_dir: {tmp_path}/etc/cni/net.d
  artifacts:
    mirror: {tmp_path}/mirror
    unpack_root: {tmp_path}/opt/vent
    allow_download: {allow_download}
    releases:
      flannel_cni_plugin:
        version: "{VERSION}"
        files:
          cni-plugins:
            checksums:
              "{VERSION}": {{amd64: "{checksum}", arm64: "{checksum}"}}
"""


def _mirror_archive(tmp_path: Path, data: bytes = ARCHIVE) -> Path:
    arch = salt_call(tmp_path, "vent_cluster.arch")
    name = f"cni-plugins-linux-{arch}-v{VERSION}.tgz"
    path = tmp_path / "mirror" / "flannel_cni_plugin" / VERSION / arch / name
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


def _failed(ret) -> dict:
    """{state id: result} of the states that failed."""
    assert isinstance(ret, dict), ret
    return {key.split("_|-")[1]: r for key, r in ret.items() if r["result"] is False}


def _changed(ret) -> dict:
    return {key.split("_|-")[1]: r["changes"] for key, r in ret.items() if r["changes"]}


def test_install_is_checksummed_idempotent_and_cleaned(tmp_path):
    site = _site(tmp_path, hashlib.sha256(ARCHIVE).hexdigest())
    salt_call(tmp_path, "test.ping", site=site)
    _mirror_archive(tmp_path)
    plugin = tmp_path / "opt/cni/bin/flannel"
    conflist = tmp_path / "etc/cni/net.d/10-flannel.conflist"

    # The node side without flannel.guard (a systemd unit; this host has no systemd):
    # the lab test checks the guard.
    first = salt_call(tmp_path, "state.apply", NODE_SLS, check=False)
    assert not _failed(first), _failed(first)
    assert plugin.read_bytes() == BLOB
    assert os.stat(plugin).st_mode & 0o777 == 0o755
    conf = json.loads(conflist.read_text())
    assert [p["type"] for p in conf["plugins"]] == ["flannel", "portmap"]
    assert conf["plugins"][0]["delegate"] == {"hairpinMode": True, "isDefaultGateway": True}
    assert conf["plugins"][1]["capabilities"] == {"portMappings": True}
    # flanneld writes FLANNEL_MTU (underlay MTU minus VXLAN's 50 bytes) to subnet.env
    # and the plugin passes it on; an MTU pinned here would override that.
    assert "mtu" not in conflist.read_text().lower()

    second = salt_call(tmp_path, "state.apply", NODE_SLS)
    assert _changed(second) == {}

    clean = salt_call(tmp_path, "state.apply", CLEAN_SLS)
    assert not _failed(clean)
    assert not plugin.exists() and not conflist.exists()
    assert not (tmp_path / "opt/vent/flannel_cni_plugin" / VERSION).exists()
    assert _changed(salt_call(tmp_path, "state.apply", CLEAN_SLS)) == {}


def test_a_file_that_does_not_match_the_checksum_is_refused(tmp_path):
    site = _site(tmp_path, hashlib.sha256(ARCHIVE).hexdigest())
    salt_call(tmp_path, "test.ping", site=site)
    _mirror_archive(tmp_path, _archive(b"tampered\n"))
    ret = salt_call(tmp_path, "state.apply", "flannel.package.install", check=False)
    (only,) = _failed(ret).values()
    assert RELEASE in only["comment"] and "could not unpack" in only["comment"], only
    assert not (tmp_path / "opt/cni/bin/flannel").exists()


def test_offline_without_the_file_fails_fast_naming_the_mirror_path(tmp_path):
    site = _site(tmp_path, hashlib.sha256(ARCHIVE).hexdigest())
    ret = salt_call(tmp_path, "state.apply", "flannel.package.install", site=site, check=False)
    (only,) = _failed(ret).values()
    assert only["comment"].startswith(f"missing artifact {RELEASE}:files:cni-plugins (version {VERSION})")
    assert f"{tmp_path}/mirror/flannel_cni_plugin/{VERSION}/" in only["comment"]
    assert "allow_download is false" in only["comment"]


def test_a_version_without_pinned_checksums_fails_naming_the_pillar_key(tmp_path):
    """A version whose checksums are not pinned: say so, do nothing."""
    site = (
        f"vent:\n  cni:\n    bin_dir: {tmp_path}/bin\n"
        "  artifacts:\n    releases:\n      flannel_cni_plugin:\n        version: '0.9.9'\n"
    )
    ret = salt_call(tmp_path, "state.apply", "flannel.package.install", site=site, check=False)
    assert "no checksums for version 0.9.9" in str(ret), ret
    assert f"{RELEASE}:files:cni-plugins:checksums" in str(ret), ret
    assert not (tmp_path / "bin").exists()


def test_no_formula_adds_routes_that_flannel_owns():
    """The original needed a stray bond0 route removed by hand; flanneld alone routes
    the pod network, so no state may add routes."""
    pattern = re.compile(r"network\.routes|\bip\s+(-\d\s+)?route\s+(add|replace)|\broute\s+add\b")
    offenders = [
        str(p.relative_to(REPO))
        for p in (REPO / "formulas").rglob("*")
        if p.is_file() and p.suffix in (".sls", ".jinja") and pattern.search(p.read_text())
    ]
    assert offenders == []


def _unit_commands(unit: str) -> dict[str, list[str]]:
    """{ExecStartPre/ExecStart/ExecStop: argv} as systemd would run them (a leading `-`
    only ignores the exit status; `$$` is a literal `$`)."""
    out = {}
    for line in unit.splitlines():
        key, _, value = line.partition("=")
        if key in ("ExecStartPre", "ExecStart", "ExecStop"):
            out[key] = shlex.split(value.removeprefix("-").replace("$$", "$"))
    return out


def _guard_rules(listing: str) -> list[str]:
    return [ln for ln in listing.splitlines() if "--comment vent-vxlan-guard " in ln]


def test_vxlan_guard_unit_removes_every_guard_rule_whatever_its_address(tmp_path):
    """The rule names the node's private IP; after that address changed, the new unit
    must still take the old rule away, on start and on stop, and a second stop finds
    nothing to do. Run in a network namespace of its own, with real iptables."""
    # iptables comes with ./vent setup (requirements.apt), unshare with util-linux; the
    # tests run as root, as the lab does.
    assert shutil.which("unshare") and Path("/usr/sbin/iptables").exists()
    netns = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    assert netns.returncode == 0, f"no network namespace of the test's own: {netns.stderr}"
    (tmp_path / "systemd").mkdir()
    site = f"vent:\n  kubernetes:\n    dirs:\n      systemd: {tmp_path}/systemd\n"
    ret = salt_call(tmp_path, "state.sls_id", "flannel-guard-running-unit-file-managed",
                    "flannel.guard.running", site=site)
    assert not _failed(ret), _failed(ret)
    cmds = _unit_commands((tmp_path / "systemd" / "vent-vxlan-guard.service").read_text())
    ip = LAB_GRAINS["vent"]["private_ip"]
    old = "-p udp --dport 8472 ! -d 100.72.0.99 -m comment --comment vent-vxlan-guard -j DROP"
    step = {name: shlex.join(argv) for name, argv in cmds.items()}
    script = "\n".join([
        "set -e",
        f"iptables -w -I INPUT 1 {old}",                     # left by the old address
        "iptables -w -A INPUT -p tcp --dport 22 -j ACCEPT",  # someone else's rule
        step["ExecStartPre"], step["ExecStart"], "iptables -w -S INPUT", "echo ---",
        step["ExecStartPre"], step["ExecStart"], "iptables -w -S INPUT", "echo ---",  # restart
        step["ExecStop"], step["ExecStop"], "iptables -w -S INPUT",
    ])
    run = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    started, restarted, stopped = run.stdout.split("---\n")
    for listing in (started, restarted):
        (rule,) = _guard_rules(listing)
        assert f"! -d {ip}/32 -p udp -m udp --dport 8472 " in rule
        assert "--dport 22 -j ACCEPT" in listing
    assert _guard_rules(stopped) == []
    assert "--dport 22 -j ACCEPT" in stopped
