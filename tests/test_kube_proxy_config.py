"""KubeProxyConfiguration rendered by the kube-proxy formula, checked against the
kubeproxy.config.k8s.io/v1alpha1 types of the pinned Kubernetes (tests/data)."""

from __future__ import annotations

import pytest
import yaml
from test_kubelet_config import check_against
from test_node_minion import LocalMinion, changed


@pytest.fixture
def minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


def render(minion, tmp_path, **vent):
    vent = {"kube_proxy": {"config_dir": str(tmp_path / "kube-proxy")}, **vent}
    states = minion.apply("kube_proxy.config.file", vent)
    doc = yaml.safe_load((tmp_path / "kube-proxy" / "config.yaml").read_text())
    check_against(doc, "kubeproxy.config.k8s.io-v1alpha1.json", "KubeProxyConfiguration",
                  "kubeproxy.config.k8s.io/v1alpha1")
    return states, doc


@pytest.mark.salt
def test_defaults_iptables_localhost_metrics(minion, tmp_path):
    states, doc = render(minion, tmp_path)
    assert changed(states)
    assert doc["mode"] == "iptables"
    assert doc["clusterCIDR"] == "100.96.0.0/11"
    assert doc["metricsBindAddress"] == "127.0.0.1:10249"
    assert doc["healthzBindAddress"] == "100.72.0.3:10256"
    assert doc["nodePortAddresses"] == ["100.72.0.3/32"]
    assert doc["clientConnection"]["kubeconfig"] == "/etc/vent/kubeconfig/kube-proxy.kubeconfig"
    again, _ = render(minion, tmp_path)
    assert changed(again) == {}
    minion.apply("kube_proxy.config.clean", {"kube_proxy": {"config_dir": str(tmp_path / "kube-proxy")}})
    assert not (tmp_path / "kube-proxy" / "config.yaml").exists()


@pytest.mark.salt
def test_pillar_changes_mode_and_cluster_cidr(minion, tmp_path):
    _, doc = render(minion, tmp_path, cluster={"cluster_cidr": "100.112.0.0/12"},
                    kubernetes={"kube_proxy_mode": "ipvs"}, pki={"kubeconfig_dir": "/srv/kc"})
    assert doc["clientConnection"]["kubeconfig"] == "/srv/kc/kube-proxy.kubeconfig"
    assert doc["clusterCIDR"] == "100.112.0.0/12"
    assert doc["mode"] == "ipvs"
    assert doc["ipvs"]["strictARP"] is True


@pytest.mark.salt
def test_unknown_mode_names_the_pillar_key(minion, tmp_path):
    vent = {"kube_proxy": {"config_dir": str(tmp_path / "kube-proxy")},
            "kubernetes": {"kube_proxy_mode": "userspace"}}
    states = minion.apply("kube_proxy.config.file", vent, check=False)
    (comment,) = [v["comment"] for v in states.values() if v["result"] is False]
    assert comment.startswith("vent:kubernetes:kube_proxy_mode: userspace")
    assert not (tmp_path / "kube-proxy").exists()
