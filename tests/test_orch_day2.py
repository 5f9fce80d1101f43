"""Day-2 orchestrations (vent.add_node, vent.renew_certs, vent.upgrade) and
``salt-run vent.remove_node`` on a real master with minions by role grain.

As in test_orch, the formulas are probe states (tests/data/orch_probe) that append
"<step> <minion>" once to a log; each procedure runs with a fresh log, so a line in
it means a state was applied during that procedure. One cluster serves the module:
it is deployed, grows by a worker and a controller, has its certificates renewed, is
upgraded and loses the worker again, in that order.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from conftest import minion_overrides, orchestration_steps, settings
from test_orch import cluster, configure  # noqa: F401 (fixture)

from ventlab import artifacts
from ventlab.model import model

pytestmark = pytest.mark.salt

VENT = settings()
# The pinned kubectl, as `./vent artifacts build` (or fetch) put it into the mirror:
# the version the upgrade reads as running.
KUBECTL = model.artifact(VENT, "kubernetes", "kubectl", artifacts.host_arch())["mirror"]


def orch(env, sls, pillar=None):
    args = ["state.orchestrate", sls]
    if pillar is not None:
        args.append(f"pillar={json.dumps(pillar)}")
    ret = env["master"].salt_run_cli(timeout=300).run(*args)
    return ret, orchestration_steps(ret.data)


def lines(log):
    return log.read_text().splitlines() if log.exists() else []


def assert_phases(log, phases):
    """Each phase's lines (a list, in any order among themselves) all come after the
    previous phase's."""
    spans = [order_of(log, *phase) for phase in phases]
    for before, after in zip(spans, spans[1:], strict=False):
        assert max(before) < min(after), lines(log)


def order_of(log, *entries):
    """Positions of the given "<step> <minion>" lines in the log (each must be there)."""
    found = lines(log)
    missing = [e for e in entries if e not in found]
    assert not missing, (missing, found)
    return [found.index(e) for e in entries]


@pytest.fixture(scope="module")
def env(cluster):  # noqa: F811
    configure(cluster, "deploy")
    ret, _ = orch(cluster, "vent")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    started = []

    def start(mid, roles, host):
        grains = {"private_ip": f"100.72.0.{host}", "public_ip": f"198.18.0.{host}"}
        overrides = minion_overrides(roles, grains, host=mid)
        minion = cluster["master"].salt_minion_daemon(mid, overrides=overrides)
        minion.start()
        started.append(minion)

    try:
        yield {**cluster, "start": start}
    finally:
        for minion in started:
            minion.terminate()


@pytest.fixture(scope="module")
def added_worker(env):
    env["start"]("worker-2", ["worker"], 20)
    log = configure(env, "add-worker")
    ret, steps = orch(env, "vent.add_node", {"vent": {"add_node": "worker-2"}})
    return ret, steps, log


@pytest.fixture(scope="module")
def added_controller(added_worker, env):
    env["start"]("controller-1", ["controller"], 21)
    log = configure(env, "add-controller")
    ret, steps = orch(env, "vent.add_node", {"vent": {"add_node": "controller-1"}})
    return ret, steps, log


def test_add_worker_applies_states_to_the_new_node_only(added_worker):
    ret, steps, log = added_worker
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert all(s["result"] is True for s in steps.values()), steps
    found = lines(log)
    # Nothing was applied on controller-0, worker-0 or worker-1: no line of theirs.
    assert {ln.split()[1] for ln in found} == {"worker-2"}, found
    stack = [f"{s} worker-2" for s in ("apiproxy", "containerd", "cni", "kubelet", "kube_proxy")]
    assert_phases(log, [["node worker-2"], ["pki worker-2"], stack, ["flannel worker-2"]])
    assert len(found) == 8, found
    assert not any("etcd" in k or "controlplane" in k for k in steps)


def test_add_controller_joins_etcd_before_etcd_starts_on_it(added_controller):
    ret, steps, log = added_controller
    assert ret.returncode == 0, ret.stdout + ret.stderr
    pki, join, etcd, cp = order_of(
        log, "pki controller-1", "etcd-member-add controller-1", "etcd controller-1",
        "controlplane controller-1",
    )
    assert pki < join < etcd < cp
    # Other nodes only had their API proxy told about the new controller.
    others = [ln for ln in lines(log) if ln.split()[1] != "controller-1"]
    assert others and all(ln.startswith("apiproxy worker-") for ln in others), lines(log)
    assert order_of(log, "controlplane controller-1")[0] < min(order_of(log, *others))


def test_add_node_refuses_a_missing_or_unknown_node(env):
    ret, _ = orch(env, "vent.add_node")
    assert ret.returncode != 0
    assert "vent:add_node: missing" in ret.stdout + ret.stderr
    ret, _ = orch(env, "vent.add_node", {"vent": {"add_node": "worker-9"}})
    assert ret.returncode != 0
    assert "vent:add_node: worker-9 has no roles grain" in ret.stdout + ret.stderr


def test_renew_certs_forces_renewal_then_restarts_one_by_one(added_controller, env):
    log = configure(env, "renew")
    ret, steps = orch(env, "vent.renew_certs")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    nodes = ["controller-0", "controller-1", "worker-0", "worker-1", "worker-2"]
    found = lines(log)
    # Every node got its pki with renewal forced, the CA minion first.
    assert found[:2] == ["pki controller-0", "pki-forced controller-0"], found
    assert {f"pki-forced {n}" for n in nodes} <= set(found)
    last_pki = max(found.index(f"pki-forced {n}") for n in nodes)
    positions = order_of(
        log,
        "restart-etcd controller-0", "etcd-health controller-0",
        "restart-etcd controller-1", "etcd-health controller-1",
        "restart-controlplane controller-0", "readyz controller-0",
        "restart-controlplane controller-1", "readyz controller-1",
    )
    assert [last_pki, *positions] == sorted([last_pki, *positions])
    # Workers restart after every controller, each once. Which workers share a batch
    # of vent:orchestrate:worker_batch is Salt's choice, so the log cannot tell batches.
    compute = order_of(log, "restart-compute worker-0", "restart-compute worker-1",
                       "restart-compute worker-2")
    assert positions[-1] < min(compute)
    assert sum(ln.startswith("restart-compute ") for ln in found) == 3
    assert not any(ln.startswith("restart-compute controller") for ln in found)


def host_kubectl_minor():
    out = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    major, minor = json.loads(out)["clientVersion"]["gitVersion"].lstrip("v").split(".")[:2]
    return int(major), int(minor)


@pytest.fixture(scope="module")
def upgrade_env(added_controller, env, tmp_path_factory):
    """dirs:bin holds a real kubectl: the version the upgrade reads as running."""
    if not os.path.exists(KUBECTL):
        if os.environ.get("VENT_SKIP_BUILD") == "1":
            pytest.skip("VENT_SKIP_BUILD=1: no built kubectl")
        pytest.fail(f"{KUBECTL} is missing: run `./vent artifacts build`")
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "kubectl").symlink_to(KUBECTL)
    major, minor = host_kubectl_minor()

    def configure_upgrade(name, pinned):
        # The probe states download nothing: any checksum pinned for the version will do.
        files = {f: {"checksums": {pinned: {"amd64": "0" * 64, "arm64": "0" * 64}}}
                 for f in VENT["artifacts"]["releases"]["kubernetes"]["files"]}
        site = {"vent": {"kubernetes": {"dirs": {"bin": str(bin_dir)}},
                         "orchestrate": {"worker_batch": 2},
                         "artifacts": {"releases": {"kubernetes": {"version": pinned, "files": files}}}}}
        return configure(env, name, extra=yaml.safe_dump(site))

    return {"major": major, "minor": minor, "configure": configure_upgrade}


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (2, "skips a minor: the control plane runs {major}.{minor}"),
        (-1, "is older than the running {major}.{minor}"),
    ],
)
def test_upgrade_refuses_skips_and_downgrades_before_any_change(upgrade_env, env, step, message):
    v = upgrade_env
    to = f"{v['major']}.{v['minor'] + step}"
    log = v["configure"](f"upgrade-refused{step}", f"{to}.0")
    ret, steps = orch(env, "vent.upgrade", {"vent": {"upgrade": {"to": to}}})
    assert ret.returncode != 0
    assert f"vent:upgrade:to: {to} " + message.format(**v) in ret.stdout + ret.stderr
    assert steps == {} and lines(log) == []


def test_upgrade_refuses_a_version_not_pinned_in_pillar(upgrade_env, env):
    v = upgrade_env
    log = v["configure"]("upgrade-unpinned", f"{v['major']}.{v['minor']}.0")
    to = f"{v['major']}.{v['minor'] + 1}"
    ret, _ = orch(env, "vent.upgrade", {"vent": {"upgrade": {"to": to}}})
    assert ret.returncode != 0
    assert (f"vent:upgrade:to: {to} but vent:artifacts:releases:kubernetes:version is "
            f"{v['major']}.{v['minor']}.0") in ret.stdout + ret.stderr
    assert lines(log) == []


def test_upgrade_control_plane_one_by_one_then_workers_drained_in_batches(upgrade_env, env):
    v = upgrade_env
    to = f"{v['major']}.{v['minor'] + 1}"
    log = v["configure"]("upgrade", f"{to}.0")
    ret, steps = orch(env, "vent.upgrade", {"vent": {"upgrade": {"to": to}}})
    assert ret.returncode == 0, ret.stdout + ret.stderr
    # Controllers one at a time, each ready before the next; then worker batches of
    # vent:orchestrate:worker_batch (2), drained before and uncordoned after, with
    # kubectl on the CA controller.
    # Within a batch the two nodes run in parallel: compare the batch as a whole.
    phases = [
        ["controlplane controller-0"], ["readyz controller-0"],
        ["controlplane controller-1"], ["readyz controller-1"],
        ["drain-worker-0 controller-0", "drain-worker-1 controller-0"],
        [f"{s} worker-{i}" for s in ("apiproxy", "containerd", "cni", "kubelet", "kube_proxy")
         for i in (0, 1)],
        ["uncordon-worker-0 controller-0", "uncordon-worker-1 controller-0"],
        ["drain-worker-2 controller-0"], ["kubelet worker-2"], ["uncordon-worker-2 controller-0"],
    ]
    assert_phases(log, phases)
    assert not any(ln.split()[0] in ("pki", "etcd", "node") for ln in lines(log))


def test_remove_node_cleans_in_reverse_order_and_deletes_the_key(added_controller, env):
    log = configure(env, "remove")
    ret = env["master"].salt_run_cli(timeout=300).run("vent.remove_node", "worker-2", "--out=vent_text")
    out = ret.stdout.splitlines()
    # No API in this cluster: said so, and the rest still done.
    assert any(ln.startswith("skip drain: API not reachable through controller-0") for ln in out), out
    cleans = ["flannel", "kube_proxy", "kubelet", "containerd", "apiproxy", "cni", "node", "pki"]
    assert [ln.split()[1] for ln in out if ln.startswith("ok ") and ln.endswith(".clean")] == [
        f"{f}.clean" for f in cleans
    ], out
    assert lines(log) == [f"clean-{f} worker-2" for f in cleans]
    assert "ok deleted minion key worker-2" in out
    assert ret.returncode == 0, ret.stdout
    keys = env["master"].salt_key_cli().run("-L", "--out=json")
    assert "worker-2" not in json.dumps(keys.data), keys.data
    assert "worker-1" in json.dumps(keys.data)
