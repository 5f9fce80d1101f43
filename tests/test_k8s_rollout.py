"""When a Deployment or DaemonSet counts as rolled out (vent_k8s.rollout_verdict), and
the bounded wait over kubectl that the flannel and CoreDNS states end with."""

from __future__ import annotations

import json
import os
import sys

import pytest
from conftest import load_salt_module

k8s = load_salt_module("salt/_modules/vent_k8s.py", "vent_k8s_rollout_under_test")


def deployment(replicas=2, generation=1, observed=1, updated=2, available=2):
    return {"kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system",
                                                "generation": generation},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}},
            "status": {"observedGeneration": observed, "replicas": updated, "updatedReplicas": updated,
                       "availableReplicas": available}}


def daemonset(desired=2, updated=2, available=2, generation=1, observed=1):
    return {"kind": "DaemonSet", "metadata": {"name": "kube-flannel-ds", "namespace": "kube-flannel",
                                               "generation": generation},
            "spec": {"selector": {"matchLabels": {"app": "flannel"}}},
            "status": {"observedGeneration": observed, "desiredNumberScheduled": desired,
                       "updatedNumberScheduled": updated, "numberAvailable": available}}


def test_a_deployment_with_every_replica_updated_and_available_is_done():
    done, detail = k8s.rollout_verdict(deployment())
    assert done
    assert detail == "Deployment/kube-system/coredns: 2/2 updated, 2/2 available"


@pytest.mark.parametrize("obj, says", [
    # What the CI run found: the second CoreDNS replica still without a pod network.
    (deployment(available=1), "1/2 available"),
    # The status still counts the old spec's pods.
    (deployment(generation=2, observed=1), "generation 2 not yet seen"),
    (deployment(updated=1, available=2), "1/2 updated"),
    # Scaled up: the status has not caught up with spec.replicas.
    (deployment(replicas=3), "2/3 available"),
    (daemonset(available=1), "1/2 available"),
    (daemonset(updated=1), "1/2 updated"),
])
def test_a_rollout_short_of_its_spec_is_not_done_and_says_by_how_much(obj, says):
    done, detail = k8s.rollout_verdict(obj)
    assert not done
    assert says in detail, detail


def test_a_daemonset_on_no_nodes_yet_is_done():
    assert k8s.rollout_verdict(daemonset(desired=0, updated=0, available=0))[0]


def test_other_kinds_are_refused_by_name():
    with pytest.raises(k8s.CommandExecutionError, match="StatefulSet/default/web: rollouts are read for"):
        k8s.rollout_verdict({"kind": "StatefulSet", "metadata": {"name": "web", "namespace": "default"}})


# A kubectl test double. `get pods` answers with the pods given. `get <kind> <name> -o
# json --watch` prints the objects given for this start of kubectl (one list per start,
# the last repeats), each pretty-printed and split in two writes as a pipe may deliver
# it, then either keeps the watch open or ends it. It records its pid on every start.
KUBECTL_DOUBLE = """\
import json, os, pathlib, sys, time
state = pathlib.Path(sys.argv[0]).with_suffix(".json")
data = json.loads(state.read_text())
if "pods" in sys.argv:
    print(json.dumps({"items": data["pods"]}))
    sys.exit(0)
if data.get("fail"):
    sys.stderr.write(data["fail"])
    sys.exit(1)
calls = data["calls"] = data.get("calls", 0) + 1
data.setdefault("pids", []).append(os.getpid())
state.write_text(json.dumps(data))
assert "--watch" in sys.argv, sys.argv
for obj in data["starts"][min(calls, len(data["starts"])) - 1]:
    text = json.dumps(obj, indent=4) + "\\n"
    for part in (text[:len(text) // 2], text[len(text) // 2:]):
        sys.stdout.write(part)
        sys.stdout.flush()
        time.sleep(0.02)
if data.get("keep_open", True):
    time.sleep(60)
"""


def kubectl_double(tmp_path, starts, pods=(), **options):
    script = tmp_path / "kubectl_double"
    script.write_text(f"#!{sys.executable}\n{KUBECTL_DOUBLE}")
    script.chmod(0o755)
    script.with_suffix(".json").write_text(json.dumps({"starts": starts, "pods": list(pods), **options}))
    return script


def recorded(script):
    return json.loads(script.with_suffix(".json").read_text())


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_wait_follows_one_watch_until_every_replica_is_available(tmp_path):
    script = kubectl_double(tmp_path, [[deployment(available=0), deployment(available=1), deployment()]])
    out = k8s.wait_rolled_out("Deployment", "coredns", "kube-system", "/dev/null", kubectl=str(script),
                              timeout=30)
    assert out["ok"], out
    assert out["detail"].endswith("2/2 available")
    # One kubectl for the whole wait, and it does not outlive the wait.
    assert len(recorded(script)["pids"]) == 1
    assert gone(recorded(script)["pids"][0])


def test_a_wait_that_runs_out_names_the_pods_not_ready_and_why(tmp_path):
    stuck = {"metadata": {"name": "coredns-77b7475c4c-hjlqv"}, "spec": {"nodeName": "worker-0"},
             "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}],
                        "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}}
    ready = {"metadata": {"name": "coredns-77b7475c4c-jwbws"}, "spec": {"nodeName": "worker-1"},
             "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    script = kubectl_double(tmp_path, [[deployment(available=1)]], pods=[stuck, ready])
    out = k8s.wait_rolled_out("Deployment", "coredns", "kube-system", "/dev/null", kubectl=str(script),
                              timeout=0.5)
    assert not out["ok"]
    assert out["detail"] == ("Deployment/kube-system/coredns: 2/2 updated, 1/2 available; "
                             "coredns-77b7475c4c-hjlqv on worker-0: ContainerCreating")
    assert len(recorded(script)["pids"]) == 1
    assert gone(recorded(script)["pids"][0])


def test_a_watch_the_api_ends_is_started_again(tmp_path, monkeypatch):
    monkeypatch.setattr(k8s, "RESTART_PAUSE", 0.01)
    script = kubectl_double(tmp_path, [[deployment(available=1)], [deployment()]], keep_open=False)
    out = k8s.wait_rolled_out("Deployment", "coredns", "kube-system", "/dev/null", kubectl=str(script),
                              timeout=30)
    assert out["ok"], out
    assert recorded(script)["calls"] == 2


def test_a_kubectl_that_fails_is_an_error_with_its_message(tmp_path):
    said = 'Error from server (NotFound): deployments.apps "coredns" not found'
    script = kubectl_double(tmp_path, [], fail=said)
    with pytest.raises(k8s.CommandExecutionError, match='deployments.apps "coredns" not found'):
        k8s.wait_rolled_out("Deployment", "coredns", "kube-system", "/dev/null", kubectl=str(script),
                            timeout=30)
