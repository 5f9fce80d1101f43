"""Helpers for the end-to-end tests that drive the operator's lab (`./vent lab up`) and
then talk to the cluster as an operator would: salt commands from the checkout,
kubectl with the admin kubeconfig `salt-run vent.kubeconfig` writes (verified against
the cluster CA, never insecure), commands inside the machines.

Every wait is bounded and names what it waited for when it gives up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.lab import skip_reason
from ventlab import artifacts
from ventlab import lab as labcli
from ventlab.machines import machine, state
from ventlab.model import model

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
VENT = model.load([REPO / "pillar"], site=False)
KUBECTL = model.artifact(VENT, "kubernetes", "kubectl", artifacts.host_arch())["mirror"]
IMAGE = model.image(VENT, "agnhost")


def run(*argv: str, timeout: float = 900, check: bool = False, stdin: str | None = None
        ) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", PYTHONPATH=str(REPO))
    out = subprocess.run(list(argv), cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=timeout, input=stdin)
    if check:
        assert out.returncode == 0, f"{' '.join(argv)}: {out.stdout[-3000:]}{out.stderr[-3000:]}"
    return out


def lab(*argv: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "ventlab.lab", *argv, timeout=timeout)


def salt_run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return run(str(BIN / "salt-run"), *argv, timeout=timeout)


def salt_json(*argv: str, timeout: float = 300) -> dict:
    out = run(str(BIN / "salt"), "--out=json", "--static", *argv, timeout=timeout)
    return json.loads(out.stdout or "{}")


def orchestrate(name: str = "vent", *extra: str) -> tuple[float, dict, subprocess.CompletedProcess]:
    """An orchestration as the operator runs it: (seconds, steps by id, process)."""
    started = time.monotonic()
    out = salt_run("--out=json", "state.orchestrate", name, *extra, timeout=1800)
    return time.monotonic() - started, dict(labcli._step_results(out.stdout)), out


def node(hostname: str) -> dict:
    return next(m for m in machine.status() if m["hostname"] == hostname)


def inside(hostname: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return machine.run_in(node(hostname), list(argv), timeout=timeout)


def wait(what: str, probe, timeout: float = 120, interval: float = 1.0):
    """Call ``probe`` until it returns something truthy; AssertionError naming ``what``
    and the last answer when ``timeout`` runs out."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = probe()
            if last:
                return last
        # MachineError: a machine that is (re)booting has no init to run a command in yet.
        except (AssertionError, subprocess.SubprocessError, OSError, ValueError, machine.MachineError) as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}; last: {last!r}")
        time.sleep(interval)


class Kubectl:
    """kubectl from the pinned release in the mirror, run on this host with a
    kubeconfig from `salt-run vent.kubeconfig` (its CA is the cluster's)."""

    def __init__(self, kubeconfig: Path, server: str | None = None):
        self.kubeconfig = kubeconfig
        # A node's kubeconfig names its local API proxy (127.0.0.1), which this host
        # reaches at a controller instead.
        self.flags = [f"--kubeconfig={kubeconfig}", *([f"--server={server}"] if server else [])]

    @classmethod
    def admin(cls, directory: Path) -> Kubectl:
        path = directory / "admin.kubeconfig"
        salt_run("vent.kubeconfig", "user=admin", f"path={path}", "force=True", timeout=120)
        assert path.exists(), "salt-run vent.kubeconfig user=admin wrote no file"
        return cls(path)

    def run(self, *args: str, stdin: str | None = None, timeout: float = 120, check: bool = True
            ) -> subprocess.CompletedProcess:
        out = subprocess.run([KUBECTL, *self.flags, *args], input=stdin,
                             capture_output=True, text=True, timeout=timeout)
        if check:
            assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr.strip()[-2000:]}"
        return out

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, *objects: dict) -> None:
        self.run("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List",
                                                       "items": list(objects)}))

    def ready(self, kind_name: str, namespace: str = "default", timeout: int = 120) -> None:
        self.run("-n", namespace, "wait", "--for=condition=Ready", kind_name, f"--timeout={timeout}s",
                 timeout=timeout + 15)

    def exec(self, pod: str, *argv: str, namespace: str = "default", check: bool = True
             ) -> subprocess.CompletedProcess:
        return self.run("-n", namespace, "exec", pod, "--", *argv, check=check, timeout=60)

    def ready_nodes(self) -> set[str]:
        return {n["metadata"]["name"] for n in self.json("get", "nodes")["items"] if model.is_ready(n)}


def pod(name: str, node_name: str | None = None, args=("pause",), namespace: str = "default",
        labels: dict | None = None, **spec) -> dict:
    """An agnhost pod (the pinned e2e image: netexec, pause and a busybox userland)."""
    body = {"containers": [{"name": "main", "image": IMAGE, "args": list(args)}],
            "terminationGracePeriodSeconds": 0, **spec}
    if node_name:
        body["nodeName"] = node_name
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
            "spec": body}


def http_get(k: Kubectl, client: str, host: str, port: int = 8080, path: str = "/hostname",
             namespace: str = "default") -> str:
    """GET from inside ``client`` with busybox nc (the image's wget is a static build
    whose name lookups crash); the body's last line."""
    request = f"printf 'GET {path} HTTP/1.0\\r\\n\\r\\n'"
    out = k.exec(client, "sh", "-c", f"{request} | nc -w 5 {host} {port}", namespace=namespace,
                 check=False)
    return out.stdout.strip().splitlines()[-1].strip() if out.stdout.strip() else ""


def lab_running() -> bool:
    st = state.read()
    return bool(st["machines"]) or any(labcli._alive(p) for p in st["processes"].values())


def refusal() -> str | None:
    """Why the operator's lab cannot be used for a test here, None when it can."""
    reason = skip_reason()
    if reason:
        return f"lab machines cannot run here: {reason} (VENT_SKIP_LAB=1 skips the lab tests)"
    if lab_running():
        return "a lab is running here (./vent lab down first)"
    if labcli.SITE.exists() and labcli.MARKER not in labcli.SITE.read_text():
        return "pillar/site.sls is the operator's own; the lab test would not use the lab pillar"
    if (REPO / "cloud.providers.d" / "packet.conf").exists():
        return "cloud.providers.d/packet.conf exists (the lab defines that provider)"
    return None


def cloud(*argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """salt-cloud as the operator runs it, against the lab's emulator."""
    return run(str(BIN / "salt-cloud"), *argv, "-y", timeout=timeout)


def elapsed(since: float) -> str:
    return f"{time.monotonic() - since:.1f}s"


@contextlib.contextmanager
def running_lab(kube_dir: Path, *up_args: str):
    """``./vent lab up`` with ``up_args``; yields (its process, admin kubectl or None
    when it failed) and always brings the lab down."""
    why = refusal()
    if why:
        pytest.fail(why)
    started = time.monotonic()
    out = lab("up", *up_args)
    print(f"lab up {' '.join(up_args)} in {elapsed(started)}")
    print("\n".join(ln for ln in out.stdout.splitlines() if ln.startswith(("orchestration", "  vent-"))))
    try:
        yield out, (Kubectl.admin(kube_dir) if out.returncode == 0 else None)
    finally:
        lab("down", timeout=600)


def step_results(up: subprocess.CompletedProcess) -> dict[str, str]:
    """What ``./vent lab up`` printed for each orchestration step: ``{step: "ok (changed)"}``."""
    return {m.group(1): m.group(2) for m in re.finditer(r"^  (vent-\S+)\s+(.*)$", up.stdout, re.M)}


def assert_every_step_ok(up: subprocess.CompletedProcess) -> None:
    """``./vent lab up`` exited 0 and printed ``ok`` for every orchestration step."""
    lines = step_results(up)
    assert up.returncode == 0, up.stdout[-6000:] + up.stderr[-3000:]
    assert lines and all(v.startswith("ok") for v in lines.values()), lines
    assert "vent-status" in lines and "vent-addons" in lines
