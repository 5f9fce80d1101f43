"""Which phases the orchestration runs inside another phase's step
(vent_model.joined_phases): etcd and flannel's DaemonSet when both phases run on the
same minions; each node's PKI in its role's step when every role's step runs and all
nodes may sign at once; the kubelet nodes' own formulas at the end of the runtime's
step when those nodes run no step beside it."""

from __future__ import annotations

import pytest
from conftest import REPO, settings

from ventlab.model import model


def nodes(etcd_role_on: tuple[str, ...] = ()) -> dict:
    found = {m: {"id": m, "roles": ["controller"]} for m in ("controller-0", "controller-1")}
    found["worker-0"] = {"id": "worker-0", "roles": ["worker"]}
    for m in etcd_role_on:
        found.setdefault(m, {"id": m, "roles": []})["roles"].append("etcd")
    return found


def plan(found: dict, stop_after: str | None = None, shared_workers: int | None = None) -> dict:
    vent = settings({"orchestrate": {"stop_after": stop_after}} if stop_after else None)
    return model.orchestration(vent, found, shared_workers=shared_workers)


def joined(found: dict, stop_after: str | None = None) -> dict:
    return plan(found, stop_after)["joined"]


PKI_IN_EACH_ROLE = ["runtime", "etcd", "controlplane"]


WORKERS_AFTER_RUNTIME = ["vent.node.runtime_ready", "apiproxy", "kube_proxy.package.install",
                         "kube_proxy.config.file", "kubelet", "kube_proxy"]


def test_by_default_four_steps_fewer_each_applying_what_joined_it():
    found = plan(nodes())  # the lab's master: publish has workers of its own
    assert found["joined"] == {"etcd": ["controlplane"], "flannel": ["addons"], "pki": PKI_IN_EACH_ROLE,
                               "workers": ["runtime"]}
    assert found["joined_sls"] == {"runtime": ["pki"], "etcd": ["pki"], "controlplane": ["pki", "etcd"],
                                   "addons": ["flannel.cluster.applied"]}
    assert found["followed_sls"] == {"runtime": WORKERS_AFTER_RUNTIME}
    # The lab's controllers carry the etcd role too: still the same minions.
    assert joined(nodes(etcd_role_on=("controller-0", "controller-1")))["etcd"] == ["controlplane"]


def test_nodes_that_sign_in_batches_keep_the_pki_step():
    found = plan(nodes(), shared_workers=2)  # 3 signers, 2 shared master workers: one at a time
    assert found["signing_batch"] == 1
    assert "pki" not in found["joined"]
    assert found["joined_sls"]["controlplane"] == ["etcd"] and "runtime" not in found["joined_sls"]


@pytest.mark.parametrize("etcd_role_on", [("etcd-0",), ("controller-0",)])
def test_etcd_on_other_minions_than_the_controllers_keeps_its_own_step(etcd_role_on):
    assert "etcd" not in joined(nodes(etcd_role_on))


WORKERS = {"workers": ["runtime"]}


@pytest.mark.parametrize(("stop_after", "expected"), [
    ("runtime", {}),                       # no step of etcd or the control plane to join
    ("etcd", {}),
    ("controlplane", {"etcd": ["controlplane"], "pki": PKI_IN_EACH_ROLE}),  # no workers step
    ("workers", {"etcd": ["controlplane"], "pki": PKI_IN_EACH_ROLE, **WORKERS}),
    ("flannel", {"etcd": ["controlplane"], "pki": PKI_IN_EACH_ROLE, **WORKERS}),  # no add-ons step
    ("addons", {"etcd": ["controlplane"], "flannel": ["addons"], "pki": PKI_IN_EACH_ROLE, **WORKERS}),
])
def test_a_phase_joins_the_next_only_when_both_run(stop_after, expected):
    assert joined(nodes(), stop_after) == expected


def one_controller() -> dict:
    return {"controller-0": {"id": "controller-0", "roles": ["controller"]},
            "worker-0": {"id": "worker-0", "roles": ["worker"]}}


def test_flannels_daemonset_ends_the_control_planes_step_on_the_ca_minion_alone():
    """The kubelets then start flannel as they register; the add-ons' step still waits
    for its rollout (flannel.cluster.applied)."""
    found = plan(one_controller())
    assert found["followed_sls"] == {"runtime": WORKERS_AFTER_RUNTIME,
                                     "controlplane": ["flannel.cluster.manifest"]}
    assert found["joined_sls"]["addons"] == ["flannel.cluster.applied"]


@pytest.mark.parametrize(("found", "stop_after"), [
    (nodes(), None),                # two controllers: only the CA minion applies cluster objects
    (one_controller(), "workers"),  # no flannel phase in this run
])
def test_flannels_daemonset_leads_only_from_the_ca_minions_own_step_and_when_flannel_runs(found, stop_after):
    assert "controlplane" not in plan(found, stop_after)["followed_sls"]


@pytest.mark.parametrize(("etcd_role_on", "schedulable"), [((), True), (("worker-0",), False)])
def test_kubelet_nodes_that_run_etcd_or_the_control_plane_keep_the_workers_step(etcd_role_on, schedulable):
    """The runtime's step runs beside etcd's and the control plane's: on a node that
    runs one of those too, the kubelet must wait for its API server in a step of its own."""
    vent = settings({"roles": {"controllers_schedulable": schedulable}})
    found = model.orchestration(vent, nodes(etcd_role_on))
    assert "workers" not in found["joined"] and found["followed_sls"] == {}


def test_the_gate_requires_every_runtime_formula_and_ends_the_run():
    """What keeps the kubelet from being applied on a node whose runtime failed in the
    same run; tests/test_orch.py runs it with probe formulas."""
    gate = (REPO / "salt/vent/node/runtime_ready.sls").read_text()
    assert "    - failhard: true\n" in gate
    for formula in ("node", "containerd", "cni", "flannel"):
        assert f"      - sls: {formula}\n" in gate, formula
    steps = (REPO / "salt/vent/steps.jinja").read_text()
    assert "['node', 'containerd', 'cni', 'flannel']" in steps


@pytest.mark.parametrize(("sls", "state_id"), [
    ("formulas/etcd-formula/etcd/health.sls", "etcd-health-vent_etcd-healthy"),
    ("formulas/flannel-formula/flannel/cluster/applied.sls", "flannel-cluster-applied-vent_k8s-rolled_out"),
])
def test_the_joined_phase_ends_the_run_when_its_last_state_fails(sls, state_id):
    """What keeps the control plane (the add-ons) from starting when etcd (flannel)
    failed in the same run; tests/test_orch.py runs it with probe formulas that do the
    same."""
    block = (REPO / sls).read_text().split(f"\n{state_id}:\n", 1)[1]
    assert "\n\n" not in block.strip(), "not the formula's last state"
    assert "\n    - failhard: true\n" in block, block


def test_every_key_and_certificate_ends_the_run_when_it_fails():
    """What keeps etcd, the control plane or the runtime from starting without the
    node's certificates, which come first in the same run."""
    macros = (REPO / "formulas/pki-formula/pki/macros.jinja").read_text()
    issue = macros.split("{%- macro issue(", 1)[1].split("{%- endmacro %}", 1)[0]
    assert issue.count("{{- stop_on_failure() }}") == issue.count("  x509.") == 2, issue
    stop = macros.split("{%- macro stop_on_failure() %}", 1)[1].split("{%- endmacro", 1)[0]
    assert "    - failhard: true" in stop, stop
