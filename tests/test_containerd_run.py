"""The containerd formula's config.toml running a real container on this host.

Debian's containerd and runc are started straight by the test (no systemd here) with
the rendered config (cgroupfs driver, root/state/socket under tmp_path); a tiny OCI
image (busybox-static as its rootfs, built by tests/lab/oci.py) is imported
with `ctr` and run under runc, and its output checked. Where this host's nesting keeps
runc from creating a container, the test skips with runc's own error.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from test_node_minion import LocalMinion

from tests.lab import cri
from tests.lab.oci import BUSYBOX, IMAGE, build_oci_image

pytestmark = pytest.mark.salt

NEEDED = {"containerd": "containerd", "ctr": "containerd", "runc": "runc"}
NAMESPACE = "vent-test"
# runc errors that come from this host's cgroup/mount nesting, not from the config.
NESTING_ERRORS = ("cgroup", "permission denied", "operation not permitted", "mount")


def ctr(socket: Path, *args, timeout=60):
    return subprocess.run(["ctr", "--address", str(socket), "--namespace", NAMESPACE, *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def containerd(salt_factories, tmp_path):
    missing = [f"{b} (Debian package {p})" for b, p in NEEDED.items() if not shutil.which(b)]
    if not BUSYBOX.exists():
        missing.append(f"{BUSYBOX} (Debian package busybox-static)")
    if missing:
        pytest.skip("not installed: " + ", ".join(missing))
    conf, root, state = tmp_path / "etc", tmp_path / "root", tmp_path / "state"
    minion = LocalMinion(salt_factories, tmp_path)
    minion.apply("containerd.config.file", {
        "containerd": {"install": "package", "cgroup_driver": "cgroupfs",
                       "config_dir": str(conf), "root_dir": str(root), "state_dir": str(state)},
        "runc": {"install": "package"},
        "cni": {"conf_dir": str(tmp_path / "cni")},
    })
    socket = state / "containerd.sock"
    log = (tmp_path / "containerd.log").open("w")
    proc = subprocess.Popen(["containerd", "--config", str(conf / "config.toml")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(60):
            if ctr(socket, "version", timeout=10).returncode == 0:
                break
            assert proc.poll() is None, (tmp_path / "containerd.log").read_text()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("containerd did not answer within 30 s:\n"
                        + (tmp_path / "containerd.log").read_text()[-3000:])
        yield socket
    finally:
        ctr(socket, "tasks", "kill", "-s", "SIGKILL", "vent-c1", timeout=20)
        ctr(socket, "containers", "rm", "vent-c1", timeout=20)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
        # ctr's per-namespace cgroup parents stay behind empty; rmdir only removes empty ones.
        for parent in Path("/sys/fs/cgroup").glob(f"*/{NAMESPACE}"):
            try:
                parent.rmdir()
            except OSError:
                pass


def test_rendered_config_runs_a_local_oci_image_under_runc(containerd, tmp_path):
    socket = containerd
    version = ctr(socket, "version")
    assert "Server:" in version.stdout, version.stderr
    # The CRI plugin is the part kubelet talks to: it loaded the rendered runtimes.
    plugins = ctr(socket, "plugins", "ls").stdout.splitlines()
    cri = [line.split() for line in plugins if line.split()[:2] == ["io.containerd.grpc.v1", "cri"]]
    assert cri and cri[0][-1] == "ok", plugins

    image = tmp_path / "busybox-oci.tar"
    build_oci_image(image)
    imported = ctr(socket, "images", "import", str(image))
    assert imported.returncode == 0, imported.stderr
    listed = ctr(socket, "images", "ls", "-q")
    assert IMAGE in listed.stdout.split(), listed.stdout

    run = ctr(socket, "run", "--rm", "--runc-binary", "/usr/sbin/runc", IMAGE, "vent-c1",
              timeout=120)
    if run.returncode != 0:
        err = (run.stderr or run.stdout).strip()
        if any(word in err.lower() for word in NESTING_ERRORS):
            pytest.skip(f"runc cannot create a container on this host: {err}")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "vent-oci-ok"


def test_cri_answers_with_the_rendered_runtimes(containerd):
    """What `crictl info` shows: the CRI plugin answers on the socket kubelet uses, is
    ready, and has loaded runc as the default and gVisor's runsc as a handler."""
    version, status = cri.ask(str(containerd))
    assert version["runtime_name"] == "containerd", version
    assert version["runtime_api_version"] == "v1", version
    assert status.conditions["RuntimeReady"][0], status.conditions
    # No CNI config in the test's conf dir yet: kubelet would wait for flannel's.
    assert not status.conditions["NetworkReady"][0], status.conditions
    runtimes = status.info["config"]["containerd"]
    assert runtimes["defaultRuntimeName"] == "runc", runtimes
    assert runtimes["discardUnpackedLayers"] is True, runtimes
    assert runtimes["runtimes"]["runc"]["options"]["SystemdCgroup"] is False, runtimes["runtimes"]
    assert runtimes["runtimes"]["runsc"]["runtimeType"] == "io.containerd.runsc.v1", runtimes
    if status.handlers:  # containerd >= 1.7 also lists them in runtime_handlers
        assert {"runc", "runsc"} <= set(status.handlers), status.handlers
