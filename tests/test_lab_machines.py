"""Real lab machines, booted through the machine layer and the emulator backend (no
Salt): systemd inside, sshd with the project's key, Packet-like addresses, a private
network between machines, what nested containers need, and a teardown that leaves
nothing behind. Tests run in file order; the last one takes the lab down."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.lab import TestLab, skip_reason
from ventlab.machines import backend, host, machine, state

pytestmark = pytest.mark.lab
HOSTNAMES = ["controller-0", "worker-0", "worker-1"]
MEMORY_TARGET = 200 * 2**20

_reason = skip_reason()
if _reason:
    print(f"lab machines skipped: {_reason}")
    pytest.skip(_reason, allow_module_level=True)


@pytest.fixture(scope="module")
def ssh_key(tmp_path_factory) -> Path:
    key = tmp_path_factory.mktemp("lab-ssh") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vent-lab-test",
                    "-f", str(key)], check=True)
    return key


@pytest.fixture(scope="module")
def lab():
    test_lab = TestLab("t0")
    test_lab.down()  # a previous run killed mid-way
    started = time.monotonic()
    test_lab.build_image()
    print(f"node image ready in {time.monotonic() - started:.1f}s")
    yield test_lab
    test_lab.down()


@pytest.fixture(scope="module")
def machines(lab, ssh_key):
    """Three devices provisioned in parallel through the emulator's backend."""
    key = ssh_key.with_suffix(".pub").read_text()
    devices = [lab.device(i, name, [key]) for i, name in enumerate(HOSTNAMES)]
    lab_backend = backend.LabBackend(lab=lab.dir, net=lab.net, rootfs=lab.rootfs)
    started = time.monotonic()
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(devices)) as pool:
        list(pool.map(lab_backend.provision, devices))
    print(f"{len(devices)} machines to sshd in {time.monotonic() - started:.1f}s")
    records = [machine.find(d["id"], lab.dir) for d in devices]
    return {"backend": lab_backend, "devices": devices, "records": records}


def ssh(key: Path, address: str, command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
         f"root@{address}", command], capture_output=True, text=True, timeout=30)


def test_systemd_runs_every_machine(machines):
    for record in machines["records"]:
        out = machine.run_in(record, ["systemctl", "is-system-running", "--wait"], timeout=60)
        failed = machine.run_in(record, ["systemctl", "--failed", "--no-legend"]).stdout
        assert out.stdout.strip() == "running", f"{record['hostname']}: {out.stdout} {failed}"


def test_sshd_admits_the_project_key_on_the_public_address(machines, ssh_key):
    for device, record in zip(machines["devices"], machines["records"], strict=True):
        out = ssh(ssh_key, record["public_ip"], "hostname")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == device["hostname"]


def test_sshd_refuses_other_keys(machines, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    out = ssh(other, machines["records"][0]["public_ip"], "true")
    assert out.returncode != 0
    assert "Permission denied" in out.stderr


def test_host0_carries_public_and_private_address_like_bond0(machines):
    for device, record in zip(machines["devices"], machines["records"], strict=True):
        addrs = machine.run_in(record, ["ip", "-4", "-o", "addr", "show", "dev", "host0"]).stdout
        for ip in device["ip_addresses"]:
            assert f" {ip['address']}/{ip['cidr']} " in addrs
        route = machine.run_in(record, ["ip", "-4", "route", "show", "default"]).stdout
        assert route.startswith(f"default via {device['ip_addresses'][0]['gateway']} dev host0")


def test_machines_reach_each_other_on_the_private_network(machines):
    first, *others = machines["records"]
    for other in others:
        out = machine.run_in(first, ["ping", "-c", "1", "-W", "2", other["private_ip"]])
        assert out.returncode == 0, out.stdout + out.stderr


def test_nothing_leaves_the_lab(machines, lab):
    rules = subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True,
                           text=True, check=True).stdout
    assert f"-i {lab.net.bridge} ! -o {lab.net.bridge}" in rules
    assert machine.run_in(machines["records"][0], ["cat", "/etc/resolv.conf"]).stdout == ""


def test_cgroup_controllers_writable_for_nested_runc(machines):
    record = machines["records"][0]
    # cgroup v1 (this CI host): the memory hierarchy; v2 (a Debian 12 server): the one tree.
    v2 = host.cgroup_v2()
    probe = "/sys/fs/cgroup/vent-probe" if v2 else "/sys/fs/cgroup/memory/vent-probe"
    out = machine.run_in(record, ["sh", "-c", f"mkdir {probe} && rmdir {probe}"])
    assert out.returncode == 0, out.stderr
    # Rooted at the machine's own cgroup: what runc creates stays inside the machine.
    mine = record["cgroups"][0] if v2 else [d for d in record["cgroups"] if "/memory/" in d][0]
    out = machine.run_in(record, ["sh", "-c", f"mkdir {probe} && sleep 0.2"])
    try:
        assert Path(mine, "vent-probe").is_dir()
    finally:
        machine.run_in(record, ["rmdir", probe])


NESTED_RUNC = r"""
set -e
b=/root/bundle; mkdir -p $b/rootfs/bin $b/rootfs/proc $b/rootfs/dev $b/rootfs/sys
cp /bin/dash /bin/cat $b/rootfs/bin/
for l in $(ldd /bin/dash /bin/cat | grep -o '/[^ :]*' | grep -v '^/bin/'); do
  mkdir -p $b/rootfs$(dirname $l); cp -n $l $b/rootfs$l
done
cd $b && runc spec
sed -i 's|"sh"|"/bin/cat", "/proc/self/cgroup"|; s|"terminal": true|"terminal": false|' config.json
runc run vent-probe
"""


def test_nested_runc_runs_a_container_inside_the_machine(machines):
    record = machines["records"][1]
    out = machine.run_in(record, ["sh", "-c", NESTED_RUNC], timeout=120)
    assert out.returncode == 0, out.stderr
    # The container's cgroups, seen from the machine's cgroup namespace: its own,
    # directly under the machine's root in every hierarchy.
    assert "memory:/vent-probe" in out.stdout
    assert "0::/vent-probe" in out.stdout
    out = machine.run_in(record, ["sh", "-c", "systemctl start containerd && "
                                  "systemctl is-active containerd && ctr version"], timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_image_has_salt_and_an_offline_apt(machines):
    record = machines["records"][0]
    out = machine.run_in(record, ["/opt/vent/salt/bin/salt-call", "--version"])
    assert "3008.4" in out.stdout
    out = machine.run_in(record, ["apt-get", "update"], timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    out = machine.run_in(record, ["dpkg-query", "-W", "-f=${Status}", "etcd-server"])
    assert out.stdout == "install ok installed"
    out = machine.run_in(record, ["systemctl", "is-enabled", "etcd", "containerd"])
    assert out.stdout.split() == ["disabled", "disabled"]


def test_memory_per_machine_within_target(machines):
    for record in machine.status(machines["backend"].lab):
        print(f"{record['hostname']}: {record['memory'] / 2**20:.0f} MiB, "
              f"boot to sshd {record.get('boot_seconds', '?')}s")
        assert record["memory"] < MEMORY_TARGET


def test_power_off_really_stops_power_on_keeps_disk_destroy_removes(machines):
    device, record = machines["devices"][2], machines["records"][2]
    machine.run_in(record, ["sh", "-c", "echo kept > /root/marker && sync"])
    machines["backend"].power_off(device)
    after = machine.find(device["id"], machines["backend"].lab)
    assert after["pid"] is None
    assert not machine._alive(record["pid"], record["name"])
    assert host.cgroup_pids(record["cgroups"]) == set()
    assert all(not Path(d).exists() for d in record["cgroups"])
    with pytest.raises(OSError):
        import socket

        socket.create_connection((record["public_ip"], 22), timeout=2).close()
    machines["backend"].power_on(device)
    again = machine.find(device["id"], machines["backend"].lab)
    assert machine.run_in(again, ["cat", "/root/marker"]).stdout == "kept\n"
    machines["backend"].destroy(device)
    assert machine.find(device["id"], machines["backend"].lab) is None
    assert not Path(record["dir"]).exists()


def test_down_leaves_nothing_behind(machines, lab):
    records = machines["records"]
    lab.down()
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert str(lab.dir) not in mountinfo
    assert not host.link_exists(lab.net.bridge)
    for record in records:
        assert not machine._alive(record["pid"], record["name"])
        assert not any(Path(d).exists() for d in record["cgroups"])
        assert not host.link_exists(f"vb-{record['name']}")
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert lab.net.bridge not in rules
    assert state.read(lab.dir)["machines"] == {}
