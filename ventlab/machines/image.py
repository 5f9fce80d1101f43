"""The lab's node image: one Debian 12 rootfs every lab machine is an overlay clone of.

Built once with debootstrap and cached under ``.vent/lab/image/<hash>/rootfs``; the hash
covers every input (suite, mirror, package lists, the pinned Salt, the files under
``lab/image/rootfs`` and this builder), so a change to any of them builds a new image
and nothing else does.

What the formulas install from Debian (etcd, containerd, runc, CNI plugins, kubectl,
...) is *installed* in the image with its services disabled, and its .debs are kept in
a local flat repository (``/var/lib/vent-lab/debs``) that is the image's only apt
source. So ``pkg.installed`` is a no-op, ``pkg.removed`` + ``pkg.installed`` works with
no network, ``apt-get update`` succeeds offline, and the formulas still own each
service's configuration and its enable/start.

The pinned Salt is pre-built as a wheelhouse at ``/opt/vent/wheelhouse`` and installed
in a venv at ``/opt/vent/salt`` so the minion deploy script needs no network.

    python -m ventlab.machines.image [--force]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Bump when the build steps below change what ends up in the image.
BUILDER_VERSION = 1
IMAGE_FILES = REPO / "lab" / "image" / "rootfs"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# Machine essentials: an init, sshd for salt-cloud's deploy, python for the minion.
BASE_PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "openssh-server", "python3",
    "python3-venv", "iproute2", "iptables", "ca-certificates", "curl", "apt-utils",
    "iputils-ping", "procps", "less", "kmod",
]
# What the formulas install from Debian where the lab pillar says `install: package`,
# plus the tools kubelet and kube-proxy expect on a node.
FORMULA_PACKAGES = [
    "etcd-server", "etcd-client", "containerd", "runc", "containernetworking-plugins",
    "kubernetes-client", "conntrack", "socat", "ipset", "isal", "ebtables", "ethtool", "haproxy",
]
# Installed packages whose services the formulas configure and start themselves: a
# default etcd or containerd would take their ports, sockets and data directories
# before the formulas run. haproxy stays enabled, as installing Debian's package
# leaves it on a user's node; enabling it from the formula instead went through its
# SysV script (update-rc.d and two more daemon-reloads), a path no user's run takes.
DISABLED_UNITS = ["etcd.service", "containerd.service"]
# Timers that would wake every idle machine for nothing in a lab.
MASKED_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
    "dpkg-db-backup.timer", "systemd-timesyncd.service",
]
ENABLED_UNITS = [
    "systemd-networkd.service", "vent-cgroup-rw.service", "vent-ssh-hostkey.service",
    "vent-userdata.service",
]
DEB_REPO = "/var/lib/vent-lab/debs"
WHEELHOUSE = "/opt/vent/wheelhouse"
SALT_VENV = "/opt/vent/salt"


def image_dir() -> Path:
    """Shared by the lab and the tests' labs: one cache per checkout."""
    return Path(os.environ.get("VENT_LAB_IMAGE_DIR", REPO / ".vent" / "lab" / "image"))


def host_mirror() -> str:
    """The host's own Debian mirror (the one apt already reaches), else deb.debian.org."""
    candidates = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in candidates:
        text = path.read_text()
        for stanza in text.split("\n\n"):
            if re.search(r"^Suites:.*\bbookworm\b(?!-)", stanza, re.M) and "Enabled: no" not in stanza:
                m = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if m:
                    return m.group(1).rstrip("/")
    sources = Path("/etc/apt/sources.list")
    if sources.exists():
        m = re.search(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", sources.read_text(), re.M)
        if m:
            return m.group(1).rstrip("/")
    return DEFAULT_MIRROR


def salt_pins() -> list[str]:
    """Salt and its dependency closure as pinned in this venv (built from
    requirements.lock): the image's Salt is the one the master runs, and a change to an
    unrelated pin (a test tool) does not rebuild the image."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    todo = ["salt"]
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in pins:
            continue
        dist = metadata.distribution(name)
        pins[key] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def salt_requirement() -> str:
    return next(p for p in salt_pins() if p.startswith("salt=="))


def inputs() -> dict:
    files = {}
    for path in sorted(IMAGE_FILES.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(IMAGE_FILES))] = hashlib.sha256(
                path.read_bytes()).hexdigest()
    return {
        "suite": SUITE,
        "mirror": host_mirror(),
        "base": BASE_PACKAGES,
        "formula": FORMULA_PACKAGES,
        "disabled": DISABLED_UNITS,
        "masked": MASKED_UNITS,
        "enabled": ENABLED_UNITS,
        "pins": salt_pins(),
        "files": files,
        "builder": BUILDER_VERSION,
    }


def image_hash() -> str:
    return hashlib.sha256(json.dumps(inputs(), sort_keys=True).encode()).hexdigest()[:16]


def rootfs_path() -> Path:
    return image_dir() / image_hash() / "rootfs"


def _run(argv: list[str], **kw) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, **kw)
    if proc.returncode:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(f"image build step failed ({' '.join(argv[:4])} ...):\n{tail}")


def _chroot(root: Path, script: str) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
           "LC_ALL": "C", "HOME": "/root"}
    _run(["chroot", str(root), "/bin/sh", "-ec", script], env=env)


@contextlib.contextmanager
def _mounted_proc(root: Path):
    proc = root / "proc"
    _run(["mount", "-t", "proc", "proc", str(proc)])
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(proc)], check=False)


def _wheelhouse(dest: Path) -> None:
    """Wheels of the pinned Salt and its dependencies, built on the host (same CPython
    3.11 as bookworm), so machines install them with no index."""
    constraints = dest.parent / "constraints.txt"
    constraints.write_text("\n".join(salt_pins()) + "\n")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
          "--wheel-dir", str(dest), "-c", str(constraints), salt_requirement()])


def _build(work: Path, log) -> None:
    root = work / "rootfs"
    mirror = host_mirror()
    t = time.monotonic()
    _wheelhouse(work / "wheelhouse")
    log(f"wheelhouse {time.monotonic() - t:.0f}s")
    t = time.monotonic()
    _run(["debootstrap", "--variant=minbase", "--components=main",
          "--include=" + ",".join(BASE_PACKAGES), SUITE, str(root), mirror])
    log(f"debootstrap {time.monotonic() - t:.0f}s")
    t = time.monotonic()
    shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf")
    (root / "etc/apt/sources.list").write_text(f"deb {mirror} {SUITE} main\n")
    # Packages must not start services in the build chroot.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    keep = root / "etc/apt/apt.conf.d/01vent-keep-debs"
    keep.write_text('Binary::apt::APT::Keep-Downloaded-Packages "true";\n')
    with _mounted_proc(root):
        _chroot(root, "rm -f /var/cache/apt/archives/*.deb; apt-get update -qq; "
                "apt-get install -y -qq --no-install-recommends " + " ".join(FORMULA_PACKAGES))
        log(f"formula packages {time.monotonic() - t:.0f}s")
        t = time.monotonic()
        repo = root / DEB_REPO.lstrip("/")
        repo.mkdir(parents=True)
        for deb in (root / "var/cache/apt/archives").glob("*.deb"):
            shutil.move(str(deb), repo / deb.name)
        _chroot(root, f"cd {DEB_REPO} && apt-ftparchive packages . > Packages && "
                "rm -rf /var/lib/apt/lists/* && "
                f"echo 'deb [trusted=yes] file:{DEB_REPO} ./' > /etc/apt/sources.list && "
                "apt-get update -qq")
        shutil.copytree(work / "wheelhouse", root / WHEELHOUSE.lstrip("/"))
        _chroot(root, f"python3 -m venv {SALT_VENV} && {SALT_VENV}/bin/pip install -q "
                f"--no-index --disable-pip-version-check --find-links {WHEELHOUSE} "
                f"'{salt_requirement()}'")
        log(f"local repo + salt venv {time.monotonic() - t:.0f}s")
    shutil.copytree(IMAGE_FILES, root, dirs_exist_ok=True, symlinks=True)
    _chroot(root, " && ".join([
        "systemctl disable -q " + " ".join(DISABLED_UNITS),
        "systemctl mask -q " + " ".join(MASKED_UNITS),
        "systemctl enable -q " + " ".join(ENABLED_UNITS),
        "rm -f /etc/ssh/ssh_host_* /usr/sbin/policy-rc.d /etc/apt/apt.conf.d/01vent-keep-debs",
        # systemd makes a machine id from the machine's UUID at first boot.
        ": > /etc/machine-id",
        "rm -f /var/lib/dbus/machine-id",
        "apt-get clean",
    ]))
    # No resolver in the lab: nothing inside may reach outside.
    (root / "etc/resolv.conf").write_text("")


def build(force: bool = False, log=lambda msg: None) -> Path:
    """Return the rootfs for the current inputs, building it only when absent."""
    base = image_dir()
    base.mkdir(parents=True, exist_ok=True)
    digest = image_hash()
    final = base / digest
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (final / "manifest.json").exists() and not force:
            return final / "rootfs"
        work = base / f"{digest}.building"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        started = time.monotonic()
        try:
            _build(work, log)
        except BaseException:
            _umount_under(work)
            raise
        manifest = {"hash": digest, "inputs": inputs(),
                    "build_seconds": round(time.monotonic() - started, 1)}
        (work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(work / "wheelhouse")
        if final.exists():
            shutil.rmtree(final)
        work.rename(final)
        current = base / "current"
        tmp_link = base / ".current.tmp"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(digest)
        tmp_link.rename(current)
        _prune(base, keep=digest)
        return final / "rootfs"


def _umount_under(path: Path) -> None:
    """debootstrap mounts /proc and /sys in its target; an aborted build leaves them."""
    prefix = str(path.resolve()) + "/"
    targets = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for target in sorted((t for t in targets if t.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)


def _prune(base: Path, keep: str) -> None:
    """Old images go, unless a machine still has one as its lower layer (then the
    next build after `down` removes it)."""
    busy = Path("/proc/self/mountinfo").read_text()
    for old in base.iterdir():
        if old.is_dir() and old.name != keep and str(old) not in busy:
            shutil.rmtree(old, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    args = parser.parse_args(argv)
    started = time.monotonic()
    root = build(force=args.force, log=lambda m: print(f"  {m}", file=sys.stderr))
    print(f"{root} ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
