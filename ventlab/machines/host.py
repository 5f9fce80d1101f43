"""Host-side plumbing of the lab: the bridge, the guard rules, per-machine cgroups.

Each piece is created only if absent and recorded in the lab state, so `down` undoes
what the lab made and leaves alone what was there before.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ventlab.model import model

LAB = model.lab_network()
CGROUP_ROOT = Path("/sys/fs/cgroup")
RULE_COMMENT = "vent-lab"


@dataclass(frozen=True)
class Network:
    """The lab's L2 segment: one bridge carrying the public and the private subnet,
    as Packet's bond0 carries both."""

    bridge: str = LAB["bridge"]
    public: str = LAB["public"]
    private: str = LAB["private"]

    def gateway(self, cidr: str) -> str:
        return str(ipaddress.ip_network(cidr).network_address + 1)

    def host_addresses(self) -> list[str]:
        return [f"{self.gateway(net)}/{ipaddress.ip_network(net).prefixlen}"
                for net in (self.public, self.private)]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _ports(bridge: str) -> list[str]:
    brif = Path("/sys/class/net", bridge, "brif")
    return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []


def _ipv4_addresses(link: str) -> set[str]:
    out = _ip("-o", "-4", "addr", "show", "dev", link).stdout
    return {line.split()[3] for line in out.splitlines()}


def left_by_a_lab(net: Network) -> bool:
    """A lab whose processes were killed (its host kept running) leaves its bridge
    behind: no port, nothing but the lab's own gateway addresses. Any other bridge of
    that name is someone's and stays."""
    return (link_exists(net.bridge) and not _ports(net.bridge)
            and _ipv4_addresses(net.bridge) == set(net.host_addresses()))


def bridge_up(net: Network, state: dict) -> None:
    if not link_exists(net.bridge):
        _ip("link", "add", net.bridge, "type", "bridge")
        state["bridge"] = {"name": net.bridge, "addresses": []}
    if state["bridge"] is None:
        if left_by_a_lab(net):
            # Adopted with its addresses, so `down` removes it like one the lab made.
            state["bridge"] = {"name": net.bridge, "addresses": sorted(net.host_addresses())}
        else:
            # There before the lab: use it, never delete it.
            state["bridge"] = {"name": net.bridge, "addresses": [], "foreign": True}
    have = _ipv4_addresses(net.bridge)
    for addr in net.host_addresses():
        if addr not in have:
            _ip("addr", "add", addr, "dev", net.bridge)
            state["bridge"]["addresses"].append(addr)
    _ip("link", "set", net.bridge, "up")
    guard_rules(net, state)


def bridge_down(state: dict) -> None:
    bridge = state.get("bridge")
    if not bridge:
        return
    if bridge.get("foreign"):
        for addr in bridge["addresses"]:
            _ip("addr", "del", addr, "dev", bridge["name"], check=False)
    elif link_exists(bridge["name"]):
        _ip("link", "del", bridge["name"], check=False)
    state["bridge"] = None


def _rule_specs(net: Network) -> list[list[str]]:
    # Nothing in the lab may reach beyond the bridge, even if the host forwards.
    tag = ["-m", "comment", "--comment", RULE_COMMENT]
    return [
        ["FORWARD", "-i", net.bridge, "!", "-o", net.bridge, *tag, "-j", "DROP"],
        ["FORWARD", "-o", net.bridge, "!", "-i", net.bridge, *tag, "-j", "DROP"],
    ]


def guard_rules(net: Network, state: dict) -> None:
    for spec in _rule_specs(net):
        present = subprocess.run(["iptables", "-w", "-C", *spec], capture_output=True)
        if present.returncode != 0:
            subprocess.run(["iptables", "-w", "-I", *spec], check=True, capture_output=True)
        if spec not in state["rules"]:
            state["rules"].append(spec)


def rules_down(state: dict) -> None:
    for spec in state["rules"]:
        for _ in range(8):  # one -D per copy; bounded
            if subprocess.run(["iptables", "-w", "-D", *spec], capture_output=True).returncode:
                break
    state["rules"] = []


# ---- kernel settings --------------------------------------------------------------

# What the kubelet requires of the kernel (pkg/kubelet/cm setupKernelTunables) and sets
# itself where it may. A lab machine shares the host's kernel and sees /proc/sys
# read-only, so `up` sets them on the host (as a kind cluster's kubelet does from its
# privileged container) and `down` restores what was there.
KUBELET_SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
PROC_SYS = Path("/proc/sys")


def sysctls_up(state: dict) -> list[str]:
    """Set the kubelet's kernel settings; returns the ones changed. The first value
    seen is recorded, so a second `up` does not lose it."""
    saved = state.setdefault("sysctls", {})
    changed = []
    for key, want in KUBELET_SYSCTLS.items():
        path = PROC_SYS / key
        have = path.read_text().strip()
        if have != want:
            saved.setdefault(key, have)
            path.write_text(want)
            changed.append(f"{key.replace('/', '.')}={want} (was {have})")
    return changed


def sysctls_down(state: dict) -> None:
    for key, value in state.pop("sysctls", {}).items():
        (PROC_SYS / key).write_text(value)


# ---- cgroups ----------------------------------------------------------------------

CAP_SYS_RESOURCE = 24


def can_lower_oom_scores() -> bool:
    """This process holds CAP_SYS_RESOURCE, without which no one may lower an OOM
    score (some sandboxed hosts withhold it from root)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def overlay_mount_error() -> str | None:
    """Mount a scratch overlay and unmount it: None when that works. Tried, not read
    from /proc/filesystems: Debian loads the overlay module on its first mount."""
    with tempfile.TemporaryDirectory(prefix="vent-overlay-") as tmp:
        dirs = {n: Path(tmp, n) for n in ("lower", "upper", "work", "merged")}
        for d in dirs.values():
            d.mkdir()
        opts = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
        out = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(dirs["merged"])],
                             capture_output=True, text=True)
        if out.returncode:
            return out.stderr.strip() or f"mount exited {out.returncode}"
        subprocess.run(["umount", str(dirs["merged"])], capture_output=True)
    return None


def cgroup_v2() -> bool:
    """The host mounts the unified hierarchy alone at /sys/fs/cgroup (cgroup v2)."""
    return (CGROUP_ROOT / "cgroup.controllers").exists()


def _hierarchies() -> list[tuple[Path, str]]:
    """(mount point, this process's path in it) for every hierarchy, the unified one
    included: a machine must own a cgroup in each, or nested runc lands outside it."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, opts = fields[sep + 1], fields[sep + 3].split(",")
        if fstype == "cgroup2":
            mounts.setdefault("", Path(fields[4]))
        elif fstype == "cgroup":
            names = sorted(o for o in opts if o not in ("rw", "ro") and (
                o.startswith("name=") or "=" not in o) and o not in (
                "nosuid", "nodev", "noexec", "relatime", "xattr", "clone_children"))
            mounts.setdefault(",".join(names), Path(fields[4]))
    result = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        key = ",".join(sorted(controllers.split(","))) if controllers else ""
        if key in mounts:
            result.append((mounts[key], path))
    return result


def cgroups_create(name: str) -> list[str]:
    dirs = []
    for mount, path in _hierarchies():
        d = mount / path.lstrip("/") / "vent-lab" / name
        d.mkdir(parents=True, exist_ok=True)
        if (d / "cpuset.cpus").exists() and not (d / "cpuset.cpus").read_text().strip():
            # v1 cpuset children start empty and refuse tasks until filled.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                for up in (d.parent, d):
                    if not (up / knob).read_text().strip():
                        (up / knob).write_text((up.parent / knob).read_text())
        dirs.append(str(d))
    return dirs


def cgroup_pids(dirs: list[str]) -> set[int]:
    pids: set[int] = set()
    for top in dirs:
        for root, _, files in os.walk(top):
            if "cgroup.procs" in files:
                try:
                    text = Path(root, "cgroup.procs").read_text()
                except OSError:
                    continue
                pids.update(int(p) for p in text.split())
    return pids


def cgroups_remove(dirs: list[str], timeout: float = 20.0) -> list[str]:
    """Kill whatever is left in the machine's cgroups and remove them bottom-up, until
    done or the deadline. A cgroup can stay busy for a moment after its last process
    died, so both steps repeat. Returns the directories that could not be removed."""
    deadline = time.monotonic() + timeout
    left = [d for d in dirs if os.path.isdir(d)]
    while left:
        for pid in cgroup_pids(left):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        still = []
        for top in left:
            for root, _, _ in os.walk(top, topdown=False):
                try:
                    os.rmdir(root)
                except FileNotFoundError:
                    pass
                except OSError:
                    still.append(top)
                    break
        left = still
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for top in dirs:  # the shared vent-lab dir goes when empty
        try:
            Path(top).parent.rmdir()
        except OSError:
            pass
    return left


def memory_usage(dirs: list[str]) -> int | None:
    """The machine's memory cgroup usage (v1 or v2), page cache included."""
    for d in dirs:
        f = Path(d, "memory.usage_in_bytes")
        if f.exists():
            return int(f.read_text())
        f = Path(d, "memory.current")
        if f.exists():
            return int(f.read_text())
    return None


def _flat_keyed(path: Path) -> dict[str, int]:
    """A cgroup file of "key value" lines (memory.stat, cpu.stat) as numbers."""
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines()
                                   if line.count(" ") == 1)}


def _memory_stat(dirs: list[str]) -> dict[str, int]:
    """The memory cgroup's memory.stat (v1 or v2) as numbers; empty without one."""
    for d in dirs:
        f = Path(d, "memory.stat")
        if f.exists():
            return _flat_keyed(f)
    return {}


def memory_working_set(dirs: list[str]) -> int | None:
    """Usage less the inactive file cache, the figure the kubelet and cAdvisor call the
    working set: the cache of binaries read once (kubelet, runsc) can be dropped."""
    usage = memory_usage(dirs)
    if usage is None:
        return None
    stat = _memory_stat(dirs)
    inactive = stat.get("total_inactive_file", stat.get("inactive_file"))
    return usage if inactive is None else max(0, usage - inactive)


def memory_anon(dirs: list[str]) -> int | None:
    """The processes' own memory (anonymous pages), no file cache: the part of the
    working set that a re-read of large files (a no-op run hashing the release
    binaries) does not move."""
    stat = _memory_stat(dirs)
    return stat.get("total_rss", stat.get("anon"))


def cpu_seconds(dirs: list[str]) -> float | None:
    """CPU time the machine's processes have used since its cgroups were made (v1
    cpuacct or v2 cpu.stat): two readings give a machine's share of a run's work."""
    for d in dirs:
        f = Path(d, "cpuacct.usage")
        if f.exists():
            return int(f.read_text()) / 1e9
        f = Path(d, "cpu.stat")
        if f.exists() and "usage_usec" in (stat := _flat_keyed(f)):
            return stat["usage_usec"] / 1e6
    return None


def cpu_jiffies() -> tuple[int, int, int]:
    """(busy, stolen, total) clock ticks of all the host's CPUs since boot, from
    /proc/stat: two readings give the shares of the time between them (``cpu_use``)."""
    return parse_cpu_line(Path("/proc/stat").read_text().split("\n", 1)[0])


def parse_cpu_line(line: str) -> tuple[int, int, int]:
    """``cpu_jiffies`` of /proc/stat's first line. Stolen time (the hypervisor ran
    another guest on this one's CPUs) is neither this host's work nor idle time: counted
    as busy, it read as CPU work the deploy did."""
    fields = [int(v) for v in line.split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    stolen = fields[7] if len(fields) > 7 else 0
    # guest time is already counted in user and nice.
    total = sum(fields[:8])
    return total - idle - stolen, stolen, total


def session_cpu_seconds(sid: int) -> float:
    """CPU seconds the live processes of session ``sid`` have used: a daemon started in
    a session of its own, with every process it forked."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == sid:  # field 6 of stat(5), after pid and comm
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_use(since: tuple[int, int, int]) -> tuple[float, float]:
    """The shares of the host's CPU time (all cores) since ``since`` (``cpu_jiffies``)
    that were busy and that the hypervisor took (stolen)."""
    busy, stolen, total = cpu_jiffies()
    span = max(1, total - since[2])
    return (busy - since[0]) / span, (stolen - since[1]) / span
