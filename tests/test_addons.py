"""The add-on states on this host through real Salt: the controller keeps exactly the
manifests it hands to vent_k8s.applied, a second run changes nothing, clean removes
them; pillar switches (gVisor, NetworkPolicy provider) behave as documented.

Applying to a live API is vent_k8s.applied's job and needs a kube-apiserver, which
this host cannot run; here the API step is excluded and its input checked instead."""

from __future__ import annotations

import json

import yaml
from test_manifests import salt_call

APPLY_IDS = [
    "addons-coredns-applied-manifest-vent_k8s-applied",
    "addons-runtimeclass-applied-manifest-vent_k8s-applied",
    "flannel-cluster-manifest-vent_k8s-applied",
]
# Each waits, over the API, for what the one before it applied to roll out.
ROLLOUT_IDS = [
    "addons-coredns-applied-vent_k8s-rolled_out",
    "flannel-cluster-applied-vent_k8s-rolled_out",
]
EXCLUDE = "exclude=" + json.dumps([{"id": i} for i in APPLY_IDS + ROLLOUT_IDS])


def _calls(high: dict, fun: str) -> dict:
    """{state id: {argument: value}} of each vent_k8s.<fun> state in show_sls output."""
    return {sid: {k: v for a in chunk["vent_k8s"] if isinstance(a, dict) for k, v in a.items()}
            for sid, chunk in high.items() if fun in chunk.get("vent_k8s", [])}


def _by_id(ret) -> dict:
    assert isinstance(ret, dict), ret
    return {key.split("_|-")[1]: r for key, r in ret.items()}


def _site(tmp_path, extra=""):
    return f"vent:\n  addons:\n    manifest_dir: {tmp_path}/addons\n{extra}"


def test_manifests_land_on_the_controller_once_and_clean_removes_them(tmp_path):
    salt_call(tmp_path, "test.ping", site=_site(tmp_path))
    high = salt_call(tmp_path, "state.show_sls", "flannel.cluster.applied,addons")
    applied = {sid: args["manifest"] for sid, args in _calls(high, "applied").items()}
    assert set(applied) == set(APPLY_IDS)
    waits = _calls(high, "rolled_out")
    # Every workload applied is waited for, and nothing else.
    workloads = {(o["kind"], o["metadata"]["namespace"], o["metadata"]["name"])
                 for text in applied.values() for o in yaml.safe_load_all(text)
                 if o and o["kind"] in ("Deployment", "DaemonSet")}
    assert {(w["kind"], w["namespace"], w["name"]) for w in waits.values()} == workloads
    assert len(workloads) == 2, workloads
    assert set(waits) == set(ROLLOUT_IDS)

    first = _by_id(salt_call(tmp_path, "state.apply", "flannel.cluster.applied,addons", EXCLUDE))
    assert all(r["result"] for r in first.values()), first
    files = {p.name: p.read_text() for p in (tmp_path / "addons").iterdir()}
    assert set(files) == {"kube-flannel.yaml", "coredns.yaml", "runtimeclass-gvisor.yaml"}
    # What the operator reads is what is applied.
    assert sorted(files.values()) == sorted(applied.values())
    assert all(list(yaml.safe_load_all(text)) for text in files.values())

    second = _by_id(salt_call(tmp_path, "state.apply", "flannel.cluster.applied,addons", EXCLUDE))
    assert {sid: r["changes"] for sid, r in second.items() if r["changes"]} == {}

    # Clean takes back from the cluster exactly what was applied (tests/test_lab_cluster.py
    # runs it against a live API); here the API step is excluded again.
    deletes = _calls(salt_call(tmp_path, "state.show_sls", "addons.clean,flannel.cluster.clean"), "absent")
    assert sorted(d["manifest"] for d in deletes.values()) == sorted(applied.values())
    clean = _by_id(salt_call(tmp_path, "state.apply", "addons.clean,flannel.cluster.clean",
                             "exclude=" + json.dumps([{"id": i} for i in deletes])))
    assert all(r["result"] for r in clean.values()), clean
    assert list((tmp_path / "addons").iterdir()) == []


def test_gvisor_disabled_removes_the_runtimeclass_instead(tmp_path):
    site = _site(tmp_path, "  gvisor:\n    enabled: false\n")
    (tmp_path / "addons").mkdir()
    stale = tmp_path / "addons" / "runtimeclass-gvisor.yaml"
    stale.write_text("kind: RuntimeClass\n")
    high = salt_call(tmp_path, "state.show_sls", "addons.runtimeclass.applied", site=site)
    assert _calls(high, "applied") == {}
    (delete,) = _calls(high, "absent").items()
    assert [o["kind"] for o in yaml.safe_load_all(delete[1]["manifest"]) if o] == ["RuntimeClass"]
    ret = _by_id(salt_call(tmp_path, "state.apply", "addons.runtimeclass.applied",
                           "exclude=" + json.dumps([{"id": delete[0]}])))
    assert all(r["result"] for r in ret.values()), ret
    assert not stale.exists()


def test_an_unsupported_network_policy_provider_fails_naming_the_key(tmp_path):
    site = _site(tmp_path, "  network_policy:\n    provider: calico\n")
    ret = _by_id(salt_call(tmp_path, "state.apply", "addons.network_policy.check", site=site,
                           check=False))
    (only,) = ret.values()
    assert only["result"] is False
    assert "vent:network_policy:provider" in only["comment"] and "calico" in only["comment"]
