"""The `vent` orchestration on a real Salt master with minions by role grain.

The formulas are replaced by probe states (tests/data/orch_probe, a file root placed
first) that append "<step> <minion>" to a log, so the order the orchestration imposes
is read from the log; the orchestration file, its state module and targeting are the
real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import REPO, master_overrides, minion_overrides, orchestration_steps, pillar_dir

pytestmark = pytest.mark.salt

PROBE_ROOT = REPO / "tests" / "data" / "orch_probe"
KEY = "Z2Q0c0p5ZUtMZ1hVcXJ5TnFNVm5aUWJiV3B2b2RFQ2o="
MINIONS = {
    "controller-0": ["controller"],
    "worker-0": ["worker"],
    "worker-1": ["worker"],
}
# Each node's steps in order, a step of several formulas named by one (steps_logged).
# Each node's certificates come first in its role's step; a worker's runtime and its
# own formulas (apiproxy, kubelet, kube-proxy) make one step, beside etcd and the
# control plane. flannel's DaemonSet ends the control plane's step (the CA minion is the
# only controller); the add-ons' step waits for its rollout.
NODE_ORDER = {
    "controller-0": ["pki-ca", "pki", "etcd", "controlplane", "flannel-manifest", "flannel-cluster",
                     "addons"],
    "worker-0": ["pki", "runtime", "workers"],
    "worker-1": ["pki", "runtime", "workers"],
}


@pytest.fixture(scope="module")
def cluster(salt_factories, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("orch")
    pillar_root = pillar_dir(tmp, site="", secrets={"encryption": f"vent:\n  encryption:\n    key: {KEY}\n"})
    overrides = master_overrides(pillar_root)
    # An empty root of the test's own, for extension modules a test adds on the master.
    extra_root = tmp / "extra-root"
    extra_root.mkdir()
    overrides["file_roots"] = {"base": [str(PROBE_ROOT), *overrides["file_roots"]["base"], str(extra_root)]}
    # Salt's default (salt-factories turns the master's file-list cache off): a sync
    # must see files added on the master while the lists are cached.
    overrides["fileserver_list_cache_time"] = 20
    master = salt_factories.salt_master_daemon("orch-master", overrides=overrides)
    with master.started():
        minions = []
        for i, (mid, roles) in enumerate(MINIONS.items()):
            grains = {"private_ip": f"100.72.0.{i + 2}", "public_ip": f"198.18.0.{i + 2}"}
            overrides = minion_overrides(roles, grains, host=mid)
            minions.append(master.salt_minion_daemon(mid, overrides=overrides))
        for m in minions:
            m.start()
        try:
            yield {"master": master, "pillar": pillar_root, "tmp": tmp, "extra_root": extra_root,
                   "minions": dict(zip(MINIONS, minions, strict=True))}
        finally:
            for m in minions:
                m.terminate()


def configure(cluster, name, fail=None, extra=""):
    """A fresh probe log and the probe's pillar, picked up by the refresh step."""
    log = cluster["tmp"] / f"{name}.log"
    site = f"probe:\n  log: {log}\n"
    if fail:
        site += f"  fail: {fail}\n"
    (cluster["pillar"] / "site.sls").write_text(site + extra)
    return log


def orchestrate(cluster, *args):
    ret = cluster["master"].salt_run_cli(timeout=300).run("state.orchestrate", "vent", *args)
    (cluster["tmp"] / "last-orchestrate.json").write_text(ret.stdout)
    return ret, orchestration_steps(ret.data)


# The runtime step (before the control plane) and the workers step each apply these
# formulas as one step, interleaved across a batch.
RUNTIME = {"node", "containerd", "cni", "flannel"}
WORKER_STACK = {"apiproxy", "kubelet", "kube_proxy"}


def steps_logged(log):
    """The probe log as [(step, minion)], a formula of a combined step named by it."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [("workers" if step in WORKER_STACK else "runtime" if step in RUNTIME else step, minion)
            for step, minion in (line.split() for line in lines)]


def read_log(log, without=("runtime", "etcd-health")):
    """The probe log as [(step, {minions})], consecutive lines of a step merged;
    the steps in ``without`` (those that run beside others: the runtime, and the
    status table's etcd health check) left out."""
    entries = []
    for step, minion in steps_logged(log):
        if step in without:
            continue
        if entries and entries[-1][0] == step:
            entries[-1][1].add(minion)
        else:
            entries.append((step, {minion}))
    return entries


def changed(steps):
    return sorted(k for k, s in steps.items() if s.get("changes"))


def stopped_by_a_requisite(step):
    """The step did not run because one it requires failed."""
    return step["result"] is False and "requisite failed" in step["comment"].lower()


def assert_no_formula_ran(log, steps):
    """A gate step failed before anything changed: no formula logged a run, and the
    first formula step was stopped by it."""
    assert not log.exists() or log.read_text() == "", log.read_text()
    assert stopped_by_a_requisite(steps["vent-pki-ca"]), steps["vent-pki-ca"]["comment"]


def test_deploy_runs_in_order_then_converged_run_changes_nothing(cluster):
    log = configure(cluster, "full")
    ret, steps = orchestrate(cluster, "--log-level=warning")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    # The operator reads each step's progress line, and no Salt resource-leak noise.
    assert "vent: vent-controlplane: done" in ret.stderr, ret.stderr
    assert "unclosed" not in ret.stdout + ret.stderr, ret.stderr
    logged = [(s, m) for s, m in steps_logged(log) if s != "etcd-health"]  # the status table's
    by_node = {m: [s for s, minion in logged if minion == m] for m in NODE_ORDER}
    assert {m: [s for i, s in enumerate(seq) if i == 0 or seq[i - 1] != s] for m, seq in by_node.items()
            } == NODE_ORDER, logged
    at = {step: [i for i, (s, _) in enumerate(logged) if s == step] for step in dict(logged)}
    # The CA first; the cluster objects once the control plane and the workers are done.
    assert max(at["pki-ca"]) < min(at["pki"]), logged
    assert max(at["workers"] + at["controlplane"]) < min(at["flannel-cluster"]), logged
    lines = log.read_text().splitlines()
    assert lines.index("node worker-0") < lines.index("containerd worker-0") < lines.index("flannel worker-0")
    lines = set(log.read_text().splitlines())
    assert {f"{s} worker-{i}" for s in WORKER_STACK for i in (0, 1)} <= lines
    # No minion has the etcd role: etcd ran on the controllers, in the control plane's
    # step (one job a controller); flannel's DaemonSet in the add-ons' step; each
    # node's certificates in its role's step; the workers' formulas in the runtime's.
    assert not {"vent-etcd", "vent-flannel", "vent-pki-nodes"} & set(steps), sorted(steps)
    assert steps["vent-workers"]["comment"] == "Success!" and not steps["vent-workers"]["changes"]
    assert steps["vent-workers"]["name"] == "applied at the end of vent-runtime"
    assert all(s["result"] is True for s in steps.values()), steps

    ret2, steps2 = orchestrate(cluster)
    assert ret2.returncode == 0, ret2.stdout
    assert changed(steps2) == [], {k: steps2[k]["changes"] for k in changed(steps2)}
    assert set(log.read_text().splitlines()) == lines  # nothing re-applied


def test_failed_step_stops_dependents_and_is_named(cluster):
    log = configure(cluster, "fail", fail="controlplane")
    ret, steps = orchestrate(cluster)
    assert ret.returncode != 0
    failed = steps["vent-controlplane"]
    assert failed["result"] is False
    assert "controller-0" in failed["comment"]
    for later in ("vent-workers", "vent-addons", "vent-status"):
        assert stopped_by_a_requisite(steps[later]), steps[later]["comment"]
    recorded = {s for s, _ in read_log(log)}
    assert "etcd" in recorded and "controlplane" not in recorded and "addons" not in recorded
    assert "vent-controlplane" in ret.stdout or "vent-controlplane" in json.dumps(ret.data)


@pytest.mark.parametrize(("fail", "failed_steps", "named", "not_reached"), [
    ("etcd", ["vent-controlplane"], "controller-0", {"controlplane", "addons"}),
    ("flannel-cluster", ["vent-addons"], "controller-0", {"addons"}),
    ("flannel-manifest", ["vent-controlplane"], "controller-0", {"flannel-cluster", "addons"}),
    ("pki", ["vent-controlplane", "vent-runtime"], "controller-0",
     {"etcd", "controlplane", "node", "kubelet", "addons"}),
    ("containerd", ["vent-runtime"], "worker-0", {"apiproxy", "kubelet", "kube_proxy", "addons"}),
])
def test_a_failed_phase_stops_the_phase_joined_to_it(cluster, fail, failed_steps, named, not_reached):
    """etcd runs in the control plane's step, flannel's DaemonSet in the add-ons', each
    node's certificates in its role's step, a worker's own formulas after its runtime:
    when the first fails, the node's run ends there, as a failed step stops the next."""
    log = configure(cluster, f"joined-{fail}", fail=fail)
    ret, steps = orchestrate(cluster)
    assert ret.returncode != 0
    for name in failed_steps:
        assert steps[name]["result"] is False, steps[name]
    assert named in steps[failed_steps[0]]["comment"], steps[failed_steps[0]]
    recorded = {line.split()[0] for line in log.read_text().splitlines()} if log.exists() else set()
    assert not not_reached & recorded, recorded


def test_status_runs_once_the_nodes_are_done_beside_the_cluster_objects(cluster):
    """The status table reads nothing flannel's DaemonSet or the add-ons change: a
    failing add-on does not keep the operator from it."""
    configure(cluster, "addons-fail", fail="addons")
    ret, steps = orchestrate(cluster)
    assert ret.returncode != 0
    assert steps["vent-addons"]["result"] is False
    status = steps["vent-status"]
    assert status["result"] is True and "NODE" in status["comment"], status["comment"]
    for node in MINIONS:
        assert node in status["comment"]
    # Beside them, not after them: the table was under way before their step ended.
    assert started(status) < started(steps["vent-addons"]) + steps["vent-addons"]["duration"] / 1000, steps


def started(step):
    """A step's start_time (HH:MM:SS.ffffff, the master's clock) in seconds."""
    h, m, sec = step["start_time"].split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def test_stop_after_from_the_command_line(cluster):
    log = configure(cluster, "stop")
    ret, steps = orchestrate(cluster, 'pillar={"vent": {"orchestrate": {"stop_after": "etcd"}}}')
    assert ret.returncode == 0, ret.stdout
    assert [s for s, _ in read_log(log)][-1] == "etcd"
    assert {s for s, _ in steps_logged(log)} == {"pki-ca", "pki", "runtime", "etcd"}
    assert "vent-controlplane" not in steps and "vent-etcd" in steps


def test_refresh_syncs_only_the_minion_whose_modules_differ(cluster):
    configure(cluster, "resync", extra="vent:\n  orchestrate:\n    stop_after: refresh\n")
    ret, _ = orchestrate(cluster)
    assert ret.returncode == 0, ret.stdout
    synced = Path(cluster["minions"]["worker-1"].config["extension_modules"], "modules", "vent_cluster.py")
    synced.write_text(synced.read_text() + "\n# changed on the minion\n")

    ret, steps = orchestrate(cluster)
    assert ret.returncode == 0, ret.stdout
    assert steps["vent-refresh"]["changes"] == {"synced": {"worker-1": {"modules": ["modules.vent_cluster"]}}}
    assert "changed on the minion" not in synced.read_text()
    ret, steps = orchestrate(cluster)
    assert ret.returncode == 0, ret.stdout
    assert steps["vent-refresh"]["changes"] == {}, steps["vent-refresh"]["changes"]


def test_a_module_added_on_the_master_reaches_every_minion_in_one_run(cluster):
    """The master's fileserver keeps its file lists for 20 s; a sync right after a
    listing must still bring a module added meanwhile."""
    configure(cluster, "new-module", extra="vent:\n  orchestrate:\n    stop_after: refresh\n")
    assert orchestrate(cluster)[0].returncode == 0
    assert cluster["master"].salt_run_cli().run("fileserver.file_list").returncode == 0  # lists cached now
    added = cluster["extra_root"] / "_modules" / "vent_probe_added.py"
    added.parent.mkdir(exist_ok=True)
    added.write_text('def hello():\n    return "added"\n')
    try:
        ret, steps = orchestrate(cluster)
        assert ret.returncode == 0, ret.stdout
        synced = steps["vent-refresh"]["changes"].get("synced", {})
        for mid, minion in cluster["minions"].items():
            assert synced.get(mid, {}).get("modules") == ["modules.vent_probe_added"], steps["vent-refresh"]
            assert minion.salt_call_cli().run("vent_probe_added.hello").data == "added"
        ret, steps = orchestrate(cluster)
        assert ret.returncode == 0 and steps["vent-refresh"]["changes"] == {}, steps["vent-refresh"]
    finally:
        added.unlink()
        orchestrate(cluster)  # the sync takes it off the minions again


def test_stop_after_unknown_step_is_refused(cluster):
    configure(cluster, "stop-bad")
    ret, _ = orchestrate(cluster, 'pillar={"vent": {"orchestrate": {"stop_after": "etdc"}}}')
    assert ret.returncode != 0
    assert "vent:orchestrate:stop_after: etdc is not a step" in ret.stdout + ret.stderr


def test_invalid_pillar_stops_the_run_at_validation_naming_the_key(cluster):
    log = configure(cluster, "invalid", extra="vent:\n  flannel:\n    backend: udp\n")
    ret, steps = orchestrate(cluster)
    assert ret.returncode != 0
    step = steps["vent-validate"]
    assert step["result"] is False
    assert "ERROR vent:flannel:backend: 'udp' is not one of vxlan" in step["comment"].splitlines(), \
        step["comment"]
    assert_no_formula_ran(log, steps)


def test_missing_artifact_stops_the_run_before_anything_changes(cluster, tmp_path):
    mirror = tmp_path / "empty-mirror"
    mirror.mkdir()
    log = configure(
        cluster, "artifacts",
        extra=f"vent:\n  artifacts:\n    mirror: {mirror}\n    allow_download: false\n"
        "  orchestrate:\n    stop_after: controlplane\n",
    )
    ret, steps = orchestrate(cluster)
    assert ret.returncode != 0
    step = steps["vent-artifacts"]
    assert step["result"] is False
    assert step["comment"].startswith("not run: missing artifact "), step["comment"]
    # Each file is named with the minions of the steps that install it, and only
    # those of the phases up to stop_after.
    parts = step["comment"].removeprefix("not run: missing artifact ").split("; missing artifact ")
    findings = dict(part.rsplit(" on ", 1) for part in parts)
    by_key = {what.split()[0]: on for what, on in findings.items()}
    assert by_key["vent:artifacts:releases:etcd:files:etcd"] == "controller-0"
    assert by_key["vent:artifacts:releases:kubernetes:files:kube-apiserver"] == "controller-0"
    assert by_key["vent:artifacts:releases:containerd:files:containerd"] == "worker-0, worker-1"
    assert "vent:artifacts:releases:kubernetes:files:kubelet" not in by_key
    assert all(str(mirror) in what for what in findings)
    assert_no_formula_ran(log, steps)


def test_steps_beside_each_other_take_turns_on_a_controller_that_runs_pods(cluster):
    """With controllers_schedulable the controller is also a compute node: the runtime
    (beside etcd and the control plane) lands on it together with in-line steps, and
    waits its turn there instead of failing with "The function state.sls is running"."""
    log = configure(cluster, "schedulable", extra="vent:\n  roles:\n    controllers_schedulable: true\n")
    ret, steps = orchestrate(cluster)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert all(s["result"] is True for s in steps.values()), {
        k: s["comment"] for k, s in steps.items() if s["result"] is not True}
    logged = set(steps_logged(log))
    assert {("runtime", "controller-0"), ("etcd", "controller-0"), ("workers", "controller-0")
            } <= logged, sorted(logged)
    assert "flannel controller-0" in log.read_text().splitlines()
