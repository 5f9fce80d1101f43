"""How vent_k8s.apply_manifest and delete_manifest read the cluster: every object of a
manifest in one kubectl call, matched back by group, kind, namespace and name, and
object by object when that call fails. Run against a kubectl test double that keeps
its cluster in a JSON file and logs each call."""

from __future__ import annotations

import json
import sys

from conftest import load_salt_module

k8s = load_salt_module("salt/_modules/vent_k8s.py", "vent_k8s_apply_under_test")

KUBECTL_DOUBLE = """\
import json, pathlib, sys
state = pathlib.Path(sys.argv[0]).with_suffix(".json")
data = json.loads(state.read_text())
args = sys.argv[2:]
data["calls"].append(args[0])
sent = json.loads(sys.stdin.read())
objs = sent["items"] if sent.get("kind") == "List" else [sent]
def key(o):
    m = o["metadata"]
    return [o["apiVersion"].rpartition("/")[0], o["kind"], m.get("namespace"), m["name"]]
if args[0] == "get" and len(objs) > 1 and data.get("refuse_lists"):
    state.write_text(json.dumps(data))
    sys.exit("error: resource mapping not found for kind Widget")
if args[0] == "get":
    found = [o for o in data["cluster"] if key(o) in [key(w) for w in objs]]
    out = {"apiVersion": "v1", "kind": "List", "items": found} if len(objs) > 1 else (found or [""])[0]
    print(json.dumps(out) if out else "")
elif args[0] == "apply":
    data["cluster"] = [o for o in data["cluster"] if key(o) != key(objs[0])] + objs
elif args[0] == "delete":
    data["cluster"] = [o for o in data["cluster"] if key(o) != key(objs[0])]
state.write_text(json.dumps(data))
"""

NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-flannel"}}
ACCOUNT = {"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": "flannel", "namespace": "kube-flannel"}}
CONFIG = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "kube-flannel-cfg", "namespace": "kube-flannel"},
          "data": {"net-conf.json": '{"Network": "100.96.0.0/11"}'}}


def kubectl_double(tmp_path, cluster=(), refuse_lists=False):
    script = tmp_path / "kubectl_double"
    script.write_text(f"#!{sys.executable}\n{KUBECTL_DOUBLE}")
    script.chmod(0o755)
    script.with_suffix(".json").write_text(json.dumps(
        {"cluster": list(cluster), "calls": [], "refuse_lists": refuse_lists}))
    return script


def double_state(script):
    return json.loads(script.with_suffix(".json").read_text())


def apply(script, objs):
    return k8s.apply_manifest(objs, "/dev/null", kubectl=str(script))


def test_one_read_for_the_whole_manifest_and_a_write_only_where_it_differs(tmp_path):
    script = kubectl_double(tmp_path)
    first = apply(script, [NAMESPACE, ACCOUNT, CONFIG])
    assert {oid: c["action"] for oid, c in first["changes"].items()} == {
        "Namespace/kube-flannel": "create", "ServiceAccount/kube-flannel/flannel": "create",
        "ConfigMap/kube-flannel/kube-flannel-cfg": "create"}
    assert double_state(script)["calls"] == ["get", "apply", "apply", "apply"]

    again = apply(script, [NAMESPACE, ACCOUNT, CONFIG])
    assert again["changes"] == {} and len(again["unchanged"]) == 3
    changed = {**CONFIG, "data": {"net-conf.json": '{"Network": "100.128.0.0/11"}'}}
    third = apply(script, [NAMESPACE, ACCOUNT, changed])
    assert third["changes"] == {"ConfigMap/kube-flannel/kube-flannel-cfg": {
        "action": "update", "fields": ["data.net-conf.json"]}}
    assert double_state(script)["calls"] == ["get", "apply", "apply", "apply", "get", "get", "apply"]


def test_an_object_of_the_same_name_elsewhere_is_not_taken_for_it(tmp_path):
    other_namespace = {**ACCOUNT, "metadata": {"name": "flannel", "namespace": "kube-system"}}
    other_group = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "flannel"},
                   "handler": "runsc"}
    script = kubectl_double(tmp_path, [other_namespace, other_group])
    out = apply(script, [NAMESPACE, ACCOUNT])
    assert sorted(out["changes"]) == ["Namespace/kube-flannel", "ServiceAccount/kube-flannel/flannel"]


def test_a_manifest_the_api_cannot_read_at_once_is_read_object_by_object(tmp_path):
    script = kubectl_double(tmp_path, [NAMESPACE, ACCOUNT], refuse_lists=True)
    out = apply(script, [NAMESPACE, ACCOUNT, CONFIG])
    assert list(out["changes"]) == ["ConfigMap/kube-flannel/kube-flannel-cfg"]
    assert double_state(script)["calls"] == ["get", "get", "get", "get", "apply"]


def test_delete_reads_once_and_deletes_what_is_there_last_first(tmp_path):
    script = kubectl_double(tmp_path, [NAMESPACE, CONFIG])
    out = k8s.delete_manifest([NAMESPACE, ACCOUNT, CONFIG], "/dev/null", kubectl=str(script))
    assert list(out["changes"]) == ["ConfigMap/kube-flannel/kube-flannel-cfg", "Namespace/kube-flannel"]
    assert out["unchanged"] == ["ServiceAccount/kube-flannel/flannel"]
    state = double_state(script)
    assert state["calls"] == ["get", "delete", "delete"] and state["cluster"] == []
