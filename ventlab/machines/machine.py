"""One lab machine: an overlay clone of the node image booted with systemd-nspawn.

States: absent → ``start`` → running → ``stop`` (the nspawn process and everything in
the machine's cgroups are gone, the disk stays) → ``start`` again or ``destroy``
(overlay, mounts, cgroups and files removed).

Facts of the hosts this runs on (Debian 12, cgroup v1 hybrid, no systemd as PID 1):
``--register=no --keep-unit`` because there is no host bus; each machine is launched
from its own cgroup in every hierarchy; ``@keyring`` syscalls for nested runc;
containerd's data dir is a bind of a plain directory because its overlay snapshotter
cannot sit on overlayfs. nspawn cannot load kernel modules: what the formulas need
(overlay, br_netfilter, vxlan, ...) must be loaded on the host.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ventlab.model import model

from . import host, state

BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 20.0
# Beyond nspawn's default set: nested containers and kube-proxy need these.
EXTRA_CAPS = "CAP_NET_ADMIN,CAP_IPC_LOCK,CAP_SYS_RESOURCE,CAP_BPF,CAP_AUDIT_CONTROL,CAP_SYSLOG"


class MachineError(Exception):
    pass


@dataclass
class Spec:
    """What a machine is given at creation, as Packet gives a device."""

    id: str
    hostname: str
    public_ip: str
    private_ip: str
    public_cidr: int = 24
    private_cidr: int = 24
    gateway: str | None = None
    ssh_keys: list[str] = field(default_factory=list)
    userdata: str = ""
    # Host directories shown read-only at the same path inside (the artifact mirror,
    # so the formulas' file:// sources resolve on the minion).
    binds_ro: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        # Machine names become veth names ("vb-<name>", at most 15 bytes).
        return "vl-" + hashlib.sha1(self.id.encode()).hexdigest()[:10]  # noqa: S324


def _network_file(spec: Spec) -> str:
    lines = ["# Written by the lab; sorts before Debian's 80-container-host0.network.",
             "[Match]", "Name=host0", "", "[Network]",
             f"Address={spec.public_ip}/{spec.public_cidr}",
             f"Address={spec.private_ip}/{spec.private_cidr}"]
    if spec.gateway:
        lines.append(f"Gateway={spec.gateway}")
    lines += ["LinkLocalAddressing=no", "IPv6AcceptRA=no", ""]
    return "\n".join(lines)


def _seed(upper: Path, spec: Spec) -> None:
    """Per-machine files, written into the overlay's upper layer before boot."""
    files = {
        "etc/hostname": spec.hostname + "\n",
        "etc/hosts": f"127.0.0.1 localhost\n127.0.1.1 {spec.hostname}\n",
        "etc/systemd/network/10-vent-host0.network": _network_file(spec),
        "root/.ssh/authorized_keys": "".join(k.strip() + "\n" for k in spec.ssh_keys),
    }
    if spec.userdata:
        files["var/lib/vent-lab/userdata"] = spec.userdata
    for rel, text in files.items():
        path = upper / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (upper / "root/.ssh").chmod(0o700)
    (upper / "root/.ssh/authorized_keys").chmod(0o600)


def _mounted(path: str) -> bool:
    target = os.path.realpath(path)
    return any(line.split()[4] == target
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


def _alive(pid: int | None, name: str) -> bool:
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # The launcher shell carries the same argv until it execs nspawn.
    return f"--machine={name}".encode() in cmdline


def _exited(pid: int | None) -> bool:
    """Gone or a zombie. (During boot the launcher execs nspawn, and a cmdline read in
    the middle of an exec can come back empty, so this does not look at the cmdline.)"""
    if not pid:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def leader(record: dict) -> int | None:
    """PID of the machine's systemd (nspawn's child)."""
    pid = record.get("pid")
    if not _alive(pid, record["name"]):
        return None
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def run_in(record: dict, argv: list[str], timeout: float = 30.0) -> subprocess.CompletedProcess:
    """Run a command inside a running machine (all its namespaces)."""
    pid = leader(record)
    if pid is None:
        raise MachineError(f"machine {record['hostname']} is not running")
    return subprocess.run(["nsenter", "-t", str(pid), "-a", *argv],
                          capture_output=True, text=True, timeout=timeout)


def wait_ssh(address: str, timeout: float = BOOT_TIMEOUT, record: dict | None = None) -> float:
    """Seconds until sshd on address:22 sends its banner; MachineError on timeout or
    when the machine died meanwhile."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if record is not None and _exited(record.get("pid")):
            console = Path(record["dir"], "console.log")
            tail = console.read_text(errors="replace")[-1500:] if console.exists() else ""
            raise MachineError(f"machine {record['hostname']} exited during boot; "
                               f"{console} ends with:\n{tail}")
        try:
            with socket.create_connection((address, 22), timeout=1) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-"):
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.1)
    raise MachineError(f"sshd on {address} did not answer within {timeout:.0f}s")


def start(spec: Spec, rootfs: Path, net: host.Network, lab: Path | None = None,
          timeout: float = BOOT_TIMEOUT) -> dict:
    """Boot the machine (creating it if new) and wait for sshd; returns its record.
    Starting a running machine only waits for sshd."""
    lab = lab or state.lab_dir()
    name = spec.name
    with state.locked(lab) as st:
        host.bridge_up(net, st)
        record = st["machines"].get(name)
        if record and _alive(record.get("pid"), name):
            running = True
        else:
            running = False
            mdir = lab / "machines" / name
            for sub in ("upper", "work", "merged", "containerd"):
                (mdir / sub).mkdir(parents=True, exist_ok=True)
            record = record or {
                "name": name, "id": spec.id, "hostname": spec.hostname,
                "public_ip": spec.public_ip, "private_ip": spec.private_ip,
                "dir": str(mdir), "rootfs": str(rootfs), "cgroups": [], "mounts": [],
            }
            if not (mdir / "upper/etc/hostname").exists():
                _seed(mdir / "upper", spec)
            lower = record["rootfs"]
            merged = str(mdir / "merged")
            if not _mounted(merged):
                subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                                f"lowerdir={lower},upperdir={mdir}/upper,workdir={mdir}/work",
                                merged], check=True, capture_output=True)
            record["mounts"] = [merged]
            record["cgroups"] = host.cgroups_create(name)
            argv = [
                "systemd-nspawn", "--quiet", "--boot", "--register=no", "--keep-unit",
                f"--machine={name}", f"--hostname={spec.hostname}", f"--directory={merged}",
                f"--network-bridge={net.bridge}", "--resolv-conf=off", "--timezone=off",
                "--link-journal=no", "--console=read-only", "--system-call-filter=@keyring",
                f"--capability={EXTRA_CAPS}", f"--bind={mdir}/containerd:/var/lib/containerd",
                # The kubelet's OOM watcher reads the kernel log, as on a real host.
                "--bind-ro=/dev/kmsg",
                *(f"--bind-ro={d}" for d in spec.binds_ro if Path(d).is_dir()),
            ]
            # Join the machine's cgroups first, then become nspawn (no fork-time hooks:
            # the emulator calls this from threads).
            launcher = 'for d in $VENT_CGROUPS; do echo $$ > "$d/cgroup.procs"; done; exec "$@"'
            with open(mdir / "console.log", "ab") as log:
                proc = subprocess.Popen(
                    ["sh", "-c", launcher, "sh", *argv], stdin=subprocess.DEVNULL,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                    env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
                         "VENT_CGROUPS": " ".join(record["cgroups"])})
            record["pid"] = proc.pid
            record["started"] = time.time()
            st["machines"][name] = record
    try:
        record["boot_seconds"] = round(wait_ssh(spec.public_ip, timeout, record), 2)
    except MachineError:
        if not running:
            stop(name, lab)
        raise
    with state.locked(lab) as st:
        if name in st["machines"]:
            st["machines"][name]["boot_seconds"] = record["boot_seconds"]
    return record


def stop(name: str, lab: Path | None = None, timeout: float = STOP_TIMEOUT) -> None:
    """Power off: orderly shutdown (nspawn turns SIGTERM into the machine's poweroff),
    then kill whatever is left; unmount the overlay, remove the cgroups. Disk stays.
    The state lock is not held while waiting, so machines stop in parallel."""
    lab = lab or state.lab_dir()
    record = state.read(lab)["machines"].get(name)
    if record is None:
        return
    pid = record.get("pid")
    if _alive(pid, name):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid, name) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid, name):
            os.kill(pid, signal.SIGKILL)
    _reap(pid)
    left = host.cgroups_remove(record.get("cgroups", []))
    for mount in record.get("mounts", []):
        if _mounted(mount):
            if subprocess.run(["umount", mount], capture_output=True).returncode:
                subprocess.run(["umount", "-l", mount], capture_output=True)
    with state.locked(lab) as st:
        if name in st["machines"]:
            st["machines"][name].update(pid=None, mounts=[], cgroups=left)


def _reap(pid: int | None) -> None:
    if not pid:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def destroy(name: str, lab: Path | None = None, timeout: float = STOP_TIMEOUT) -> None:
    lab = lab or state.lab_dir()
    stop(name, lab, timeout)
    with state.locked(lab) as st:
        record = st["machines"].pop(name, None)
        if record:
            shutil.rmtree(record["dir"], ignore_errors=True)
            # Still tracked, so the next `down` tries again.
            st.setdefault("leftover_cgroups", []).extend(record.get("cgroups", []))


def status(lab: Path | None = None) -> list[dict]:
    out = []
    for name, record in sorted(state.read(lab)["machines"].items()):
        running = _alive(record.get("pid"), name)
        out.append({**record, "running": running,
                    "memory": host.memory_usage(record.get("cgroups", [])) if running else None,
                    "working_set": host.memory_working_set(record.get("cgroups", [])) if running else None,
                    "anon": host.memory_anon(record.get("cgroups", [])) if running else None})
    return out


def cpu_seconds(lab: Path | None = None) -> dict[str, tuple[int, float]]:
    """Each running machine's (nspawn pid, CPU seconds since it was powered on), by
    hostname: a new pid is a machine powered on again, with new cgroups."""
    found = {}
    for m in status(lab):
        seconds = host.cpu_seconds(m.get("cgroups", [])) if m["running"] else None
        if seconds is not None:
            found[m["hostname"]] = (m["pid"], seconds)
    return found


def cpu_since(before: dict[str, tuple[int, float]], lab: Path | None = None) -> dict[str, float]:
    """Each running machine's CPU seconds since the ``cpu_seconds`` reading ``before``;
    a machine powered on since then counts from its start."""
    since = {}
    for name, (pid, seconds) in cpu_seconds(lab).items():
        start_pid, start = before.get(name, (None, 0.0))
        since[name] = round(seconds - start if pid == start_pid else seconds, 1)
    return since


def unit_cpu_seconds(lab: Path | None = None) -> dict[str, dict[str, float]]:
    """Each running machine's CPU seconds by what runs inside it, by hostname: its
    systemd services, ``init.scope`` (its systemd itself) and ``kubepods`` (its pods),
    from the cgroups its systemd made under the machine's (none where they are not
    to be read)."""
    found = {}
    for m in status(lab):
        for d in m.get("cgroups", []) if m["running"] else []:
            payload = Path(d, "payload")
            units = [*sorted(payload.glob("system.slice/*.service")), payload / "init.scope",
                     *sorted(payload.glob("kubepods*"))]
            seconds = {u.name: s for u in units if (s := host.cpu_seconds([str(u)])) is not None}
            if seconds:
                found[m["hostname"]] = seconds
                break
    return found


def unit_cpu_since(before: dict[str, dict[str, float]],
                   lab: Path | None = None) -> dict[str, dict[str, float]]:
    """``unit_cpu_seconds`` since the reading ``before``, each machine's units of more
    than 0.05 s; a unit started or restarted since then (new cgroup, counter from
    zero) counts from its start."""
    since = {}
    for name, units in unit_cpu_seconds(lab).items():
        start = before.get(name, {})
        used = {u: s - start.get(u, 0.0) if s >= start.get(u, 0.0) else s for u, s in units.items()}
        since[name] = {u: round(v, 2) for u, v in used.items() if v > 0.05}
    return since


def find(device_id: str, lab: Path | None = None) -> dict | None:
    for record in state.read(lab)["machines"].values():
        if record["id"] == device_id:
            return record
    return None


def spec_from_device(device: dict) -> Spec:
    """A Packet device's API JSON (plus ``ssh_keys``) → the machine to boot."""
    def pick(public: bool) -> dict:
        for ip in device.get("ip_addresses", []):
            if ip.get("address_family", 4) == 4 and bool(ip.get("public")) == public:
                return ip
        raise MachineError(f"device {device.get('hostname')} has no "
                           f"{'public' if public else 'private'} IPv4 address")

    pub, priv = pick(True), pick(False)
    for ip in (pub, priv):
        addr = ipaddress.ip_address(ip["address"])
        allowed = model.lab_network()["allowed"]
        if not any(addr in ipaddress.ip_network(net) for net in allowed):
            raise MachineError(f"address {addr} is outside the lab ranges {' and '.join(allowed)}")
    return Spec(id=device["id"], hostname=device["hostname"], public_ip=pub["address"],
                private_ip=priv["address"], public_cidr=int(pub.get("cidr", 24)),
                private_cidr=int(priv.get("cidr", 24)), gateway=pub.get("gateway"),
                ssh_keys=list(device.get("ssh_keys") or []),
                userdata=device.get("userdata") or "")


def down_all(lab: Path | None = None) -> None:
    """Destroy every machine of this lab, then its rules and bridge. The machines and
    their disks are thrown away, so they are killed rather than shut down in order
    (which took 5-12 s each: the minion's and the pods' stop timeouts)."""
    lab = lab or state.lab_dir()
    names = list(state.read(lab)["machines"])
    if names:
        with ThreadPoolExecutor(len(names)) as pool:
            list(pool.map(lambda n: destroy(n, lab, timeout=0), names))
    with state.locked(lab) as st:
        st["leftover_cgroups"] = host.cgroups_remove(st.get("leftover_cgroups", []))
        host.rules_down(st)
        host.bridge_down(st)
        host.sysctls_down(st)
    if state.read(lab)["leftover_cgroups"]:
        raise MachineError("could not remove cgroups (still busy): "
                           + " ".join(state.read(lab)["leftover_cgroups"]))
