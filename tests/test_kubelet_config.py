"""KubeletConfiguration rendered by the kubelet formula, checked field by field against
the kubelet.config.k8s.io/v1beta1 types of the pinned Kubernetes (tests/data)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import REPO, settings
from test_node_minion import LocalMinion, changed

DATA = REPO / "tests" / "data"
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def schema_errors(value, typ, types, path="") -> list[str]:
    """Every place ``value`` does not fit the Go type expression ``typ``."""
    if typ == "object":
        return [] if isinstance(value, dict) else [f"{path}: expected an object"]
    if typ.startswith("struct:"):
        fields = types[typ[7:]]
        if not isinstance(value, dict):
            return [f"{path}: expected an object"]
        errs = []
        for key, sub in value.items():
            if path == "" and key in ("apiVersion", "kind"):
                continue
            if key not in fields:
                errs.append(f"{path}.{key}: no such field in {typ[7:]}")
            else:
                errs += schema_errors(sub, fields[key], types, f"{path}.{key}")
        return errs
    if typ.startswith("[]"):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, v in enumerate(value) for e in schema_errors(v, typ[2:], types, f"{path}[{i}]")]
    m = re.match(r"map\[(\w+)\](.+)", typ)
    if m:
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        return [e for k, v in value.items() for e in schema_errors(v, m.group(2), types, f"{path}[{k}]")]
    if typ == "string" or typ == "quantity":
        ok = isinstance(value, str)
    elif typ == "bool":
        ok = isinstance(value, bool)
    elif typ in INT_RANGES:
        lo, hi = INT_RANGES[typ]
        ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
    elif typ.startswith("float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif typ == "duration":
        ok = isinstance(value, str) and bool(DURATION.match(value))
    else:
        raise AssertionError(f"unknown type expression {typ}")
    return [] if ok else [f"{path}: {value!r} is not a {typ}"]


def check_against(doc: dict, schema_file: str, root: str, api_version: str) -> None:
    schema = json.loads((DATA / schema_file).read_text())
    assert doc["apiVersion"] == api_version
    assert doc["kind"] == root
    assert schema_errors(doc, f"struct:{root}", schema["types"]) == []


def test_checker_rejects_unknown_and_mistyped_fields():
    types = json.loads((DATA / "kubelet.config.k8s.io-v1beta1.json").read_text())["types"]
    bad = {"clusterDns": ["1.2.3.4"], "port": "10250", "syncFrequency": "often",
           "authentication": {"x509": {"clientCAFile": 1}}}
    errs = schema_errors(bad, "struct:KubeletConfiguration", types)
    assert len(errs) == 4, errs


@pytest.fixture
def minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


def kubelet_pillar(tmp_path, **extra):
    return {"kubelet": {"config_dir": str(tmp_path / "kubelet")}, **extra}


@pytest.mark.salt
def test_kubelet_config_matches_api_and_pillar(minion, tmp_path):
    states = minion.apply("kubelet.config.file", kubelet_pillar(tmp_path))
    assert changed(states)
    doc = yaml.safe_load((tmp_path / "kubelet" / "config.yaml").read_text())
    check_against(doc, "kubelet.config.k8s.io-v1beta1.json", "KubeletConfiguration",
                  "kubelet.config.k8s.io/v1beta1")
    assert doc["clusterDNS"] == ["100.64.0.10"]
    assert doc["clusterDomain"] == "cluster.local"
    assert doc["address"] == "100.72.0.3"
    assert doc["cgroupDriver"] == "systemd"
    assert doc["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"
    assert doc["tlsCertFile"] == "/etc/vent/pki/kubelet-serving.crt"
    assert doc["authentication"]["x509"]["clientCAFile"] == "/etc/vent/pki/ca.crt"
    assert doc["authentication"]["anonymous"]["enabled"] is False
    assert doc["authorization"]["mode"] == "Webhook"
    assert doc["healthzBindAddress"] == "127.0.0.1"
    assert doc["readOnlyPort"] == 0
    assert doc["registerWithTaints"] == []

    again = minion.apply("kubelet.config.file", kubelet_pillar(tmp_path))
    assert changed(again) == {}
    minion.apply("kubelet.config.clean", kubelet_pillar(tmp_path))
    assert not (tmp_path / "kubelet" / "config.yaml").exists()


@pytest.mark.salt
def test_kubelet_config_follows_pillar_changes(minion, tmp_path):
    vent = kubelet_pillar(
        tmp_path,
        cluster={"service_cidr": "100.80.0.0/16", "domain": "vent.example"},
        containerd={"cgroup_driver": "cgroupfs", "state_dir": "/run/vent-containerd"},
        kubernetes={"kubelet_config": {"maxPods": 50}},
    )
    minion.apply("kubelet.config.file", vent)
    doc = yaml.safe_load((tmp_path / "kubelet" / "config.yaml").read_text())
    check_against(doc, "kubelet.config.k8s.io-v1beta1.json", "KubeletConfiguration",
                  "kubelet.config.k8s.io/v1beta1")
    assert doc["clusterDNS"] == ["100.80.0.10"]
    assert doc["clusterDomain"] == "vent.example"
    assert doc["cgroupDriver"] == "cgroupfs"
    assert doc["containerRuntimeEndpoint"] == "unix:///run/vent-containerd/containerd.sock"
    assert doc["maxPods"] == 50


@pytest.mark.salt
def test_controller_is_tainted_unless_schedulable(salt_factories, tmp_path):
    minion = LocalMinion(salt_factories, tmp_path, roles=("controller", "worker"))
    minion.apply("kubelet.config.file", kubelet_pillar(tmp_path))
    doc = yaml.safe_load((tmp_path / "kubelet" / "config.yaml").read_text())
    assert doc["registerWithTaints"] == [
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
    ]
    minion.apply("kubelet.config.file", kubelet_pillar(tmp_path, roles={"controllers_schedulable": True}))
    doc = yaml.safe_load((tmp_path / "kubelet" / "config.yaml").read_text())
    assert doc["registerWithTaints"] == []


@pytest.mark.salt
def test_missing_private_ip_is_named(salt_factories, tmp_path):
    minion = LocalMinion(salt_factories, tmp_path, private_ip=None)
    states = minion.apply("kubelet.config.file", kubelet_pillar(tmp_path), check=False)
    (comment,) = [v["comment"] for v in states.values() if not v["result"]]
    assert "vent:private_ip" in comment and "vent:network:private_interface" in comment
    assert not (tmp_path / "kubelet" / "config.yaml").exists()


@pytest.mark.salt
def test_missing_kubelet_binary_fails_fast_naming_the_artifact(minion, tmp_path):
    states = minion.apply("kubelet", kubelet_pillar(tmp_path), check=False)
    failed = [v["comment"] for v in states.values() if v["result"] is False]
    assert len(failed) == 1, states
    version = settings()["artifacts"]["releases"]["kubernetes"]["version"]
    assert f"vent:artifacts:releases:kubernetes:files:kubelet (version {version})" in failed[0]
    assert str(minion.mirror / "kubernetes" / version / "amd64" / "kubelet") in failed[0]
    # failhard: nothing after the binary ran.
    assert not (tmp_path / "kubelet").exists()
    assert all(not v["changes"] for v in states.values())
