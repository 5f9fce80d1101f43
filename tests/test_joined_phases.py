"""Which phases the orchestration runs inside the next phase's step
(vent_model.joined_phases): only when both run, on the same minions."""

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


def joined(found: dict, stop_after: str | None = None) -> dict:
    vent = settings({"orchestrate": {"stop_after": stop_after}} if stop_after else None)
    return model.orchestration(vent, found)["joined"]


def test_etcd_on_the_controllers_runs_in_the_control_planes_step():
    assert joined(nodes()) == {"etcd": "controlplane", "flannel": "addons"}
    # The lab's controllers carry the etcd role too: still the same minions.
    assert joined(nodes(etcd_role_on=("controller-0", "controller-1")))["etcd"] == "controlplane"


@pytest.mark.parametrize("etcd_role_on", [("etcd-0",), ("controller-0",)])
def test_etcd_on_other_minions_than_the_controllers_keeps_its_own_step(etcd_role_on):
    assert "etcd" not in joined(nodes(etcd_role_on))


@pytest.mark.parametrize(("stop_after", "expected"), [
    ("etcd", {}),                          # the control plane does not run
    ("controlplane", {"etcd": "controlplane"}),
    ("flannel", {"etcd": "controlplane"}),  # the add-ons do not run
    ("addons", {"etcd": "controlplane", "flannel": "addons"}),
])
def test_a_phase_joins_the_next_only_when_both_run(stop_after, expected):
    assert joined(nodes(), stop_after) == expected


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
