"""Vent end to end in the local lab, through the commands an operator runs.

`./vent lab up` (1 controller + 2 workers): salt-cloud -m -P through the emulator, the
real `vent` orchestration, vent.status. Then: minions by role, certificates checked
with `cryptography` against the CA, etcd healthy over TLS and refusing a client
without a certificate, containerd running a locally built OCI image with CNI
networking from the pod CIDR, nothing but 22 (and 6443 with an API server) listening
on public addresses, a second orchestration with zero changes, a worker added with
`salt-cloud -p` and converged, removed with `salt-cloud -d`, `down` leaving nothing.
A second scenario brings up 3 controllers and checks the 3-member etcd.

Where the Kubernetes/flannel/gVisor/CoreDNS release files are absent from the lab's
mirror, `up` must stop at the control plane, name the missing artifact and exit with
EXIT_NOT_RUN; the assertions below say which steps must have run.

Uses the operator's lab layout (vent-lab0, 198.18.0.0/24, .vent/lab), so it skips when
a lab is already running or pillar/site.sls is the operator's own.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from tests.lab import cri, skip_reason
from tests.lab.oci import BUSYBOX, build_oci_image
from ventlab import lab as labcli
from ventlab.machines import host, image, machine, state

pytestmark = pytest.mark.lab
REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# What runs with no release artifacts: everything up to the container runtime.
RUNS_WITHOUT_ARTIFACTS = ["vent-refresh", "vent-validate", "vent-node", "vent-pki-ca",
                          "vent-pki-nodes", "vent-etcd", "vent-etcd-health", "vent-runtime"]
AFTER_CONTROLPLANE = ["vent-controlplane", "vent-controlplane-readyz", "vent-rbac",
                      "vent-workers-artifacts", "vent-workers", "vent-flannel",
                      "vent-flannel-cluster", "vent-addons", "vent-status"]
PKI = "/etc/vent/pki"
E2E_IMAGE = "vent.test/e2e-busybox:1"
NAMESPACE = "vent-e2e"


def _why_not() -> str | None:
    reason = skip_reason()
    if reason:
        return reason
    st = state.read()
    if st["machines"] or any(labcli._alive(p) for p in st["processes"].values()):
        return "a lab is running here (./vent lab down first)"
    if labcli.SITE.exists() and labcli.MARKER not in labcli.SITE.read_text():
        return "pillar/site.sls is the operator's own; the lab test would not use lab pillar"
    if (REPO / "cloud.providers.d" / "packet.conf").exists():
        return "cloud.providers.d/packet.conf exists (the lab defines that provider)"
    if not BUSYBOX.exists():
        return f"{BUSYBOX} is missing (Debian package busybox-static)"
    return None


_reason = _why_not()
if _reason:
    print(f"lab end-to-end test skipped: {_reason}")
    pytest.skip(_reason, allow_module_level=True)


def run(*argv: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", PYTHONPATH=str(REPO))
    return subprocess.run(list(argv), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def salt_json(*argv: str, timeout: float = 120) -> dict:
    out = run(str(BIN / "salt"), "--out=json", "--static", *argv, timeout=timeout)
    return json.loads(out.stdout or "{}")


def lab(*argv: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    return run(sys.executable, "-m", "ventlab.lab", *argv, timeout=timeout)


def artifacts_present() -> bool:
    return any(labcli.MIRROR.glob("kubernetes/*/*/kube-apiserver"))


def orchestrate() -> tuple[float, dict, subprocess.CompletedProcess]:
    """The orchestration as the operator runs it: (seconds, steps by id, process)."""
    started = time.monotonic()
    out = run(str(BIN / "salt-run"), "--out=json", "state.orchestrate", "vent")
    seconds = time.monotonic() - started
    return seconds, dict(labcli._step_results(out.stdout)), out


def node(hostname: str) -> dict:
    return next(m for m in machine.status() if m["hostname"] == hostname)


def inside(hostname: str, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return machine.run_in(node(hostname), list(argv), timeout=timeout)


def check_up_output(out: subprocess.CompletedProcess, ran=tuple(RUNS_WITHOUT_ARTIFACTS)) -> None:
    text = out.stdout + out.stderr
    if artifacts_present():
        assert out.returncode == 0, text[-5000:]
        return
    assert out.returncode == labcli.EXIT_NOT_RUN, text[-5000:]
    lines = {m.group(1): m.group(2) for m in re.finditer(r"^  (vent-\S+)\s+(.*)$", out.stdout,
                                                         re.M)}
    for step in ran:
        assert lines.get(step, "").startswith("ok"), f"{step}: {lines.get(step)}\n{text[-5000:]}"
    assert lines["vent-controlplane-artifacts"].startswith(
        "not run: artifact kubernetes kube-apiserver"), lines["vent-controlplane-artifacts"]
    for step in AFTER_CONTROLPLANE:
        assert lines[step].startswith("not run: after vent-controlplane-artifacts (missing: "
                                      "kubernetes kube-apiserver"), f"{step}: {lines[step]}"
    assert "PARTIAL" in out.stdout and "FAILED" not in out.stdout
    assert labcli.LIMITS in out.stdout


@pytest.fixture(scope="module")
def lab_up():
    started = time.monotonic()
    out = lab("up", "--controllers", "1", "--workers", "2")
    print(f"lab up 1+2 in {time.monotonic() - started:.1f}s")
    print("\n".join(line for line in out.stdout.splitlines()
                    if line.startswith(("orchestration", "  vent-")))[:6000])
    created_secrets = list(state.read().get("secrets", []))
    try:
        yield {"out": out, "secrets": created_secrets}
    finally:
        lab("down", timeout=300)


def test_up_runs_every_step_it_can_and_names_what_it_could_not(lab_up):
    check_up_output(lab_up["out"])


def test_minions_answer_by_role(lab_up):
    assert salt_json("-G", "roles:controller", "test.ping") == {"controller-0": True}
    assert salt_json("-G", "roles:worker", "test.ping") == {"worker-0": True, "worker-1": True}
    assert "controller-0" in lab_up["out"].stdout  # vent.status printed the node


def _cert(hostname: str, name: str) -> x509.Certificate:
    out = inside(hostname, "cat", f"{PKI}/{name}")
    assert out.returncode == 0, f"{hostname}:{PKI}/{name}: {out.stderr}"
    return x509.load_pem_x509_certificate(out.stdout.encode())


def _check_cert(cert: x509.Certificate, ca: x509.Certificate, ip: str | None) -> None:
    cert.verify_directly_issued_by(ca)
    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    if ip:
        sans = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        assert ipaddress.ip_address(ip) in sans.value.get_values_for_type(x509.IPAddress)


def test_certificates_chain_to_the_ca_with_the_private_ip(lab_up):
    ca_ref = _cert("controller-0", "ca.crt")
    for record in machine.status():
        hostname, ip = record["hostname"], record["private_ip"]
        ca = _cert(hostname, "ca.crt")
        assert ca == ca_ref, f"{hostname} trusts another CA"
        if hostname.startswith("controller"):
            for name in ("etcd-server.crt", "etcd-peer.crt", "apiserver.crt"):
                _check_cert(_cert(hostname, name), ca, ip)
            _check_cert(_cert(hostname, "apiserver-etcd-client.crt"), ca, None)
        else:
            _check_cert(_cert(hostname, "kubelet-serving.crt"), ca, ip)
            _check_cert(_cert(hostname, "kubelet.crt"), ca, None)


def _etcdctl(hostname: str, *argv: str, tls: bool = True) -> subprocess.CompletedProcess:
    ip = node(hostname)["private_ip"]
    auth = [f"--cacert={PKI}/ca.crt", f"--cert={PKI}/apiserver-etcd-client.crt",
            f"--key={PKI}/apiserver-etcd-client.key"] if tls else [
            f"--cacert={PKI}/ca.crt"]
    return inside(hostname, "etcdctl", f"--endpoints=https://{ip}:2379",
                  "--dial-timeout=5s", "--command-timeout=10s", *auth, *argv, timeout=40)


def test_etcd_is_healthy_over_tls_and_refuses_a_client_without_a_certificate(lab_up):
    out = _etcdctl("controller-0", "endpoint", "health")
    assert out.returncode == 0 and "is healthy" in out.stdout + out.stderr, out.stderr
    refused = _etcdctl("controller-0", "endpoint", "health", tls=False)
    assert refused.returncode != 0
    assert "is healthy" not in refused.stdout
    assert re.search(r"certificate|tls|handshake|deadline", refused.stderr, re.I), refused.stderr
    plain = inside("controller-0", "curl", "-sS", "--max-time", "5", "-k",
                   f"https://{node('controller-0')['private_ip']}:2379/health")
    assert plain.returncode != 0, plain.stdout  # TLS handshake fails without a client cert


def test_containerd_runs_a_local_image_with_cni_networking(lab_up, tmp_path):
    # The pod CIDR as the master compiles worker-0's pillar (the minion's own
    # pillar.get answer comes back masked through the salt CLI).
    out = run(str(BIN / "salt-run"), "--out=json", "pillar.show_pillar", "worker-0")
    cluster = json.loads(out.stdout)["vent"]["cluster"]
    pod_net = next(ipaddress.ip_network(cluster["cluster_cidr"]).subnets(
        new_prefix=int(cluster["node_cidr_mask"])))
    record = node("worker-0")
    merged = Path(record["dir"]) / "merged"
    build_oci_image(merged / "var/tmp/vent-e2e-image.tar", image=E2E_IMAGE)
    conflist = {
        "cniVersion": "1.0.0", "name": "vent-e2e",
        "plugins": [{"type": "bridge", "bridge": "vent-e2e0", "isGateway": True,
                     "ipMasq": False,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": str(pod_net)}]]}}],
    }
    conf = merged / "etc/cni/net.d/10-vent-e2e.conflist"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(json.dumps(conflist))
    ctr = ["ctr", "--namespace", NAMESPACE]
    try:
        out = inside("worker-0", *ctr, "images", "import", "/var/tmp/vent-e2e-image.tar")
        assert out.returncode == 0, out.stderr
        out = inside("worker-0", *ctr, "run", "--rm", "--cni", E2E_IMAGE, "vent-e2e-c1",
                     "/bin/busybox", "ip", "-4", "-o", "addr", "show", "eth0", timeout=90)
        assert out.returncode == 0, out.stdout + out.stderr
        address = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out.stdout)
        assert address, out.stdout
        assert ipaddress.ip_address(address.group(1)) in pod_net, out.stdout
    finally:
        inside("worker-0", *ctr, "tasks", "kill", "-s", "SIGKILL", "vent-e2e-c1")
        inside("worker-0", *ctr, "containers", "rm", "vent-e2e-c1")
        inside("worker-0", *ctr, "images", "rm", E2E_IMAGE)
        conf.unlink(missing_ok=True)
        (merged / "var/tmp/vent-e2e-image.tar").unlink(missing_ok=True)
        inside("worker-0", "ip", "link", "del", "vent-e2e0")


def test_containerd_answers_cri_with_the_runsc_handler_loaded(lab_up):
    # `crictl info`'s question, asked over the socket kubelet will use (crictl itself is
    # a release artifact; where the mirror has it, the artifacts test runs it too).
    socket = f"/proc/{machine.leader(node('worker-0'))}/root/run/containerd/containerd.sock"
    version, status = cri.ask(socket)
    assert version["runtime_name"] == "containerd", version
    assert version["runtime_api_version"] == "v1", version
    assert status.conditions["RuntimeReady"][0], status.conditions
    runtimes = status.info["config"]["containerd"]
    assert runtimes["defaultRuntimeName"] == "runc", runtimes
    # vent:gvisor:enabled defaults to true: the handler is configured even before runsc
    # itself is installed (the workers step installs it, or names it missing).
    assert runtimes["runtimes"]["runsc"]["runtimeType"] == "io.containerd.runsc.v1", runtimes


def test_missing_gvisor_fails_naming_runsc_and_leaves_containerd_running(lab_up):
    if (labcli.MIRROR / "gvisor").is_dir():
        pytest.skip("the lab mirror has gVisor's release files")
    out = run(str(BIN / "salt"), "--out=json", "--static", "worker-0", "state.apply",
              "containerd.gvisor.install", timeout=180)
    results = json.loads(out.stdout)["worker-0"]
    assert isinstance(results, dict), results
    failed = {sid: r["comment"] for sid, r in results.items() if r["result"] is False}
    assert any("missing artifact vent:artifacts:releases:gvisor:files:runsc (version " in c
               and f"{labcli.MIRROR}/gvisor/" in c for c in failed.values()), failed
    assert not any(r["changes"] for r in results.values()), results
    assert inside("worker-0", "test", "-e", "/usr/local/bin/runsc").returncode == 1
    assert inside("worker-0", "systemctl", "is-active", "containerd").stdout.strip() == "active"


def test_with_release_files_the_api_kubelet_and_crictl_answer(lab_up):
    if not artifacts_present():
        pytest.skip("the lab mirror lacks the Kubernetes release files (./vent artifacts fetch)")
    readyz = inside("controller-0", "/usr/local/bin/kubectl", "--kubeconfig",
                    "/etc/vent/kubeconfig/admin.kubeconfig", "get", "--raw", "/readyz")
    assert readyz.returncode == 0 and readyz.stdout.strip() == "ok", readyz.stderr
    for worker in ("worker-0", "worker-1"):
        healthz = inside(worker, "curl", "-sS", "--max-time", "5", "http://127.0.0.1:10248/healthz")
        assert healthz.stdout.strip() == "ok", (worker, healthz.stderr)
        info = inside(worker, "crictl", "info")
        assert info.returncode == 0, (worker, info.stderr)
        assert json.loads(info.stdout)["status"]["conditions"], info.stdout[:2000]


def _public_listeners(record: dict) -> list[str]:
    out = machine.run_in(record, ["ss", "-ltnH"])
    assert out.returncode == 0, out.stderr
    found = []
    for line in out.stdout.splitlines():
        local = line.split()[3]
        addr, port = local.rsplit(":", 1)
        addr = addr.strip("[]").split("%")[0]
        if addr in ("*", "0.0.0.0", "::"):  # noqa: S104 (wildcard listeners are public)
            found.append(f"{addr}:{port}")
            continue
        ip = ipaddress.ip_address(addr)
        if not (ip.is_loopback or ip == ipaddress.ip_address(record["private_ip"])):
            found.append(f"{addr}:{port}")
    return found


def test_only_ssh_and_the_api_listen_on_public_addresses(lab_up):
    for record in machine.status():
        ports = {p.rsplit(":", 1)[1] for p in _public_listeners(record)}
        allowed = {"22"}
        if record["hostname"].startswith("controller"):
            api = inside(record["hostname"], "systemctl", "is-active", "kube-apiserver")
            if api.stdout.strip() == "active":
                allowed.add("6443")
        assert ports <= allowed, f"{record['hostname']}: {_public_listeners(record)}"


def test_second_orchestration_changes_nothing(lab_up):
    seconds, steps, out = orchestrate()
    changed = {sid: s["changes"] for sid, s in steps.items() if s.get("changes")}
    print(f"no-op orchestration: {seconds:.1f}s, {len(changed)} steps changed")
    assert steps, out.stdout[-3000:] + out.stderr[-3000:]
    assert changed == {}, changed
    code, _ = labcli.summarize(out.stdout)
    assert code == (0 if artifacts_present() else labcli.EXIT_NOT_RUN)


def test_up_again_keeps_the_machines(lab_up):
    before = {m["hostname"]: m["pid"] for m in machine.status()}
    out = lab("up", "--controllers", "1", "--workers", "2")
    check_up_output(out)
    assert {m["hostname"]: m["pid"] for m in machine.status()} == before


def test_worker_added_with_profile_converges_then_is_destroyed(lab_up):
    out = run(str(BIN / "salt-cloud"), "-p", "vent-worker", "worker-2", "-y")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert salt_json("worker-2", "test.ping") == {"worker-2": True}
    _, steps, out = orchestrate()
    assert steps["vent-runtime"]["result"] is True, steps["vent-runtime"]
    assert inside("worker-2", "systemctl", "is-active", "containerd").stdout.strip() == "active"
    _check_cert(_cert("worker-2", "kubelet-serving.crt"), _cert("controller-0", "ca.crt"),
                node("worker-2")["private_ip"])
    record = node("worker-2")
    out = run(str(BIN / "salt-cloud"), "-d", "worker-2", "-y")
    assert out.returncode == 0, out.stderr[-3000:]
    for _ in range(100):  # the emulator destroys asynchronously; bounded
        if machine.find(record["id"]) is None:
            break
        time.sleep(0.2)
    assert machine.find(record["id"]) is None
    assert not Path(record["dir"]).exists()


def test_existing_machine_joins_with_the_saltify_profile_then_leaves(lab_up, tmp_path):
    """cloud.profiles.d/saltify.conf unchanged, on a machine the emulator never made (the
    provider as saltify.conf.example describes it, pointed at the lab); it leaves with
    `salt-run vent.remove_node`, before it ever went through the orchestration."""
    provider = REPO / "cloud.providers.d" / "saltify.conf"
    if provider.exists():
        pytest.skip(f"{provider} is the operator's own")
    key = labcli.ssh_key()
    spec = machine.Spec(id="vent-e2e-metal-0", hostname="metal-0", public_ip="198.18.0.200",
                        private_ip="100.72.0.200", gateway=labcli.MASTER_IP,
                        ssh_keys=[key.with_name(key.name + ".pub").read_text().strip()])
    record = machine.start(spec, image.build(), labcli.NET)
    conf = {"vent-metal": {"driver": "saltify", "key_filename": str(key), "script": "vent-minion",
                           **labcli.deploy_settings()}}
    metal_map = tmp_path / "metal.map"
    metal_map.write_text(json.dumps({"vent-metal-worker": [{"metal-0": {
        "ssh_host": spec.public_ip,
        "grains": {"vent": {"public_ip": spec.public_ip, "private_ip": spec.private_ip}},
    }}]}))
    provider.write_text(json.dumps(conf))
    provider.chmod(0o600)
    try:
        out = run(str(BIN / "salt-cloud"), "-m", str(metal_map), "-y")
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert salt_json("metal-0", "grains.get", "roles") == {"metal-0": ["worker"]}
        assert salt_json("metal-0", "grains.get", "vent:private_ip") == {
            "metal-0": spec.private_ip}
        out = run(str(BIN / "salt-run"), "vent.remove_node", "metal-0", timeout=300)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        for formula in ("node", "containerd", "cni", "kubelet", "kube_proxy", "pki"):
            assert re.search(rf"^ok {formula}\.clean$", out.stdout, re.M), out.stdout
        keys = json.loads(run(str(BIN / "salt-key"), "--out=json", "-L").stdout)
        assert "metal-0" not in {k for ks in keys.values() for k in ks}, keys
        # The machine itself is the operator's: it stays.
        assert machine.run_in(record, ["hostname"]).stdout.strip() == "metal-0"
    finally:
        provider.unlink(missing_ok=True)
        run(str(BIN / "salt-key"), "-q", "-y", "-d", "metal-0")
        machine.destroy(record["name"])


def check_down(records: list[dict], processes: dict, secrets: list[str]) -> None:
    out = lab("down", timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not host.link_exists(labcli.NET.bridge)
    assert "vent-lab" not in subprocess.run(["iptables", "-w", "-S"], capture_output=True,
                                            text=True).stdout
    mountinfo = Path("/proc/self/mountinfo").read_text()
    for record in records:
        assert record["dir"] not in mountinfo
        assert not any(Path(d).exists() for d in record["cgroups"])
    assert not any(labcli._alive(p) for p in processes.values())
    assert not labcli.PROVIDER_FILE.exists()
    assert not labcli.MASTER_CONF.exists()
    assert not any(Path(s).exists() for s in secrets), secrets
    assert state.read()["machines"] == {}


def test_down_leaves_nothing(lab_up):
    check_down(machine.status(), state.read()["processes"], lab_up["secrets"])


@pytest.fixture(scope="module")
def three_controllers():
    out = lab("up", "--controllers", "3", "--workers", "0")
    try:
        yield out
    finally:
        lab("down", timeout=300)


def test_three_controllers_form_one_healthy_etcd(three_controllers):
    # No worker: node prep and the runtime have no target, and say so plainly.
    no_target = ("vent-node", "vent-runtime")
    check_up_output(three_controllers,
                    ran=[s for s in RUNS_WITHOUT_ARTIFACTS if s not in no_target])
    for step in no_target:
        assert re.search(rf"^  {step}\s+not run: no minion matches G@roles:worker$",
                         three_controllers.stdout, re.M), three_controllers.stdout[-3000:]
    members = _etcdctl("controller-1", "member", "list", "--write-out=json")
    assert members.returncode == 0, members.stderr
    listed = json.loads(members.stdout)["members"]
    ips = {m["private_ip"] for m in machine.status()}
    assert len(listed) == 3
    assert {u.split("//")[1].rsplit(":", 1)[0] for m in listed for u in m["clientURLs"]} == ips
    ip = node("controller-1")["private_ip"]
    health = inside("controller-1", "etcdctl", f"--endpoints=https://{ip}:2379",
                    f"--cacert={PKI}/ca.crt", f"--cert={PKI}/apiserver-etcd-client.crt",
                    f"--key={PKI}/apiserver-etcd-client.key", "endpoint", "health",
                    "--cluster", timeout=40)
    assert health.returncode == 0, health.stderr
    assert health.stdout.count("is healthy") + health.stderr.count("is healthy") == 3
    check_down(machine.status(), state.read()["processes"], [])
