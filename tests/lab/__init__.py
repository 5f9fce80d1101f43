"""Helpers for tests that boot real lab machines (systemd-nspawn) without Salt.

``skip_reason()`` says why machines cannot run here (None when they can); ``TestLab``
is a throw-away lab with its own state dir, bridge and subnets, so tests never touch
a lab an operator has running (which uses vent-lab0, 198.18.0.0/24, 100.72.0.0/24).
The node image is shared with the operator's lab (cached under .vent/lab/image).
Labs that may run at the same time need distinct tags and subnets: tests/test_lab_machines
uses t0 (198.19.0.0/24, 100.73.0.0/24), the benchmark b0 (198.19.1.0/24, 100.73.1.0/24),
tests/test_lab_bridge t9 (198.19.9.0/24, 100.73.9.0/24).
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from ventlab.machines import host, image, machine

REPO = Path(__file__).resolve().parents[2]


def skip_if_opted_out() -> None:
    """``VENT_SKIP_LAB=1`` (CI never sets it) skips the calling lab module, for the unit
    and Salt part of the suite alone."""
    if os.environ.get("VENT_SKIP_LAB") == "1":
        pytest.skip("VENT_SKIP_LAB=1", allow_module_level=True)


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "lab machines need root (systemd-nspawn, overlay mounts, bridges)"
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "iptables", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (./vent setup installs it)"
    overlay = host.overlay_mount_error()
    if overlay:
        return f"an overlay mount fails here: {overlay}"
    if not Path("/sys/fs/cgroup/unified").is_dir() and not Path(
            "/sys/fs/cgroup/cgroup.controllers").exists():
        return "no cgroup2 hierarchy for nspawn"
    # One name per process: pytest's workers each ask while collecting, at once.
    link = f"vprobe{os.getpid()}"
    probe = subprocess.run(["ip", "link", "add", link, "type", "bridge"], capture_output=True, text=True)
    if probe.returncode:
        return f"cannot create network links here: {probe.stderr.strip()}"
    subprocess.run(["ip", "link", "del", link], capture_output=True)
    return None


class TestLab:
    """A lab of N machines booted straight through the machine layer."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, tag: str = "t0", public: str = "198.19.0.0/24",
                 private: str = "100.73.0.0/24"):
        self.dir = REPO / ".vent" / f"lab-test-{tag}"
        self.net = host.Network(bridge=f"vent-lab{tag}", public=public, private=private)
        self.rootfs: Path | None = None

    def build_image(self) -> Path:
        self.rootfs = image.build()
        return self.rootfs

    def device(self, index: int, hostname: str, ssh_keys: list[str], userdata: str = "") -> dict:
        """A device as the emulator hands it to a backend."""
        pub = ipaddress.ip_network(self.net.public)
        priv = ipaddress.ip_network(self.net.private)

        def ip(net, public):
            return {"address_family": 4, "address": str(net.network_address + 10 + index),
                    "cidr": net.prefixlen, "gateway": str(net.network_address + 1),
                    "public": public, "management": True}

        return {"id": str(uuid.uuid4()), "hostname": hostname, "tags": [],
                "userdata": userdata, "ssh_keys": ssh_keys,
                "ip_addresses": [ip(pub, True), ip(priv, False)]}

    def start_all(self, devices: list[dict]) -> list[dict]:
        with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
            futures = [pool.submit(machine.start, machine.spec_from_device(d), self.rootfs,
                                   self.net, self.dir) for d in devices]
            return [f.result() for f in futures]

    def down(self) -> None:
        machine.down_all(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
