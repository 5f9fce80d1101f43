"""Every cluster manifest Vent applies (flannel, CoreDNS, the gVisor RuntimeClass),
rendered by real Salt from pillar and validated strictly against the schemas of the
pinned Kubernetes version; a changed pillar shows up in the rendered objects."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from conftest import REPO, pillar_dir

from ventlab import saltconfig

SALT_CALL = Path(sys.executable).parent / "salt-call"
CLUSTER_SLS = "flannel.cluster.applied,addons"
LAB_GRAINS = {"roles": ["controller", "worker"], "vent": {"private_ip": "100.72.0.11"}}


def salt_call(tmp_path: Path, *args, site: str | None = None, grains=None, check=True):
    """`salt-call --local` on the repository's file roots with a test pillar; returns the
    parsed `local` result."""
    conf = tmp_path / "conf"
    if not conf.exists():
        conf.mkdir()
        opts = saltconfig.minion_paths(REPO, root_dir=tmp_path / "root")
        opts["pillar_roots"] = {"base": [str(pillar_dir(tmp_path, site=site))]}
        opts.update(file_client="local", grains=grains or LAB_GRAINS)
        (conf / "minion").write_text(yaml.safe_dump(opts))
    proc = subprocess.run(
        [str(SALT_CALL), "--local", "-c", str(conf), "--out", "json", *args],
        capture_output=True, text=True, timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)["local"] if proc.stdout.strip() else proc.stderr


def _arg(chunk: dict, key: str):
    for module, args in chunk.items():
        if module.startswith("__"):
            continue
        for arg in args:
            if isinstance(arg, dict) and key in arg:
                return arg[key]
    return None


def rendered(tmp_path: Path, site: str | None = None) -> dict:
    """{state id: [objects]} for every manifest the cluster states apply
    (vent_k8s.applied; not what they delete or wait for)."""
    high = salt_call(tmp_path, "state.show_sls", CLUSTER_SLS, site=site)
    assert isinstance(high, dict), high
    out = {}
    for sid, chunk in high.items():
        if "applied" in chunk.get("vent_k8s", []):
            out[sid] = [d for d in yaml.safe_load_all(_arg(chunk, "manifest")) if d]
    return out


def objects(manifests: dict) -> dict:
    return {(d["kind"], d["metadata"]["name"]): d for docs in manifests.values() for d in docs}


def k8s_version(tmp_path: Path) -> str:
    # pillar.get output is masked; the artifact lookup reports the effective version.
    return salt_call(tmp_path, "vent_cluster.artifact", "kubernetes", "kube-apiserver")["version"]


def _flannel_args(objs):
    ds = objs[("DaemonSet", "kube-flannel-ds")]
    return ds["spec"]["template"]["spec"]["containers"][0]["args"]


def test_every_manifest_validates_for_the_pinned_version(tmp_path):
    version = k8s_version(tmp_path)
    assert version.startswith("1.37.")
    manifests = rendered(tmp_path)
    objs = objects(manifests)
    expected = {
        ("Namespace", "kube-flannel"), ("ServiceAccount", "flannel"),
        ("ClusterRole", "flannel"), ("ClusterRoleBinding", "flannel"),
        ("ConfigMap", "kube-flannel-cfg"), ("DaemonSet", "kube-flannel-ds"),
        ("ServiceAccount", "coredns"), ("ClusterRole", "system:coredns"),
        ("ClusterRoleBinding", "system:coredns"), ("ConfigMap", "coredns"),
        ("Deployment", "coredns"), ("PodDisruptionBudget", "coredns"),
        ("Service", "kube-dns"), ("RuntimeClass", "gvisor"),
    }
    assert expected <= set(objs), expected - set(objs)
    for key, doc in objs.items():
        try:
            used = kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{key} is invalid for Kubernetes {version}: {exc.message}")
        assert used == "1.37", key


def test_strict_validation_rejects_a_misspelt_field(tmp_path):
    """The check above has teeth: a field the schema lacks fails strict validation."""
    objs = objects(rendered(tmp_path))
    deploy = objs[("Deployment", "coredns")]
    deploy["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deploy, k8s_version(tmp_path), strict=True)


def test_defaults_give_dns_at_the_tenth_service_ip_and_pinned_images(tmp_path):
    objs = objects(rendered(tmp_path))
    assert objs[("Service", "kube-dns")]["spec"]["clusterIP"] == "100.64.0.10"
    corefile = objs[("ConfigMap", "coredns")]["data"]["Corefile"]
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa" in corefile
    deploy = objs[("Deployment", "coredns")]["spec"]
    assert deploy["replicas"] == 2
    pod = deploy["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == (
        "registry.k8s.io/coredns/coredns:v1.14.6@sha256:"
        "900f9c109f7a33545d3c811516e8376df9019147b750f5ce3e254468769176ea"
    )
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8181, "scheme": "HTTP"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080, "scheme": "HTTP"}
    term = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert deploy["selector"]["matchLabels"]["k8s-app"] in term["podAffinityTerm"]["labelSelector"][
        "matchExpressions"][0]["values"]

    net_conf = json.loads(objs[("ConfigMap", "kube-flannel-cfg")]["data"]["net-conf.json"])
    assert net_conf["Network"] == "100.96.0.0/11"
    assert net_conf["Backend"] == {"Type": "vxlan", "Port": 8472}
    ds = objs[("DaemonSet", "kube-flannel-ds")]["spec"]["template"]["spec"]
    assert ds["containers"][0]["image"] == (
        "ghcr.io/flannel-io/flannel:v0.28.9@sha256:"
        "d666a036197fe6c8928f82b670d89f38f5830d25e70bfcc35641da06f03cfcad"
    )
    args = _flannel_args(objs)
    assert "--kube-subnet-mgr" in args
    # The interface is the one carrying the node's (private) InternalIP.
    assert "--iface=$(NODE_IP)" in args
    env = {e["name"]: e for e in ds["containers"][0]["env"]}
    assert env["NODE_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    # flanneld reaches the API where the kubelet does, not through kube-proxy's rules.
    assert (env["KUBERNETES_SERVICE_HOST"]["value"], env["KUBERNETES_SERVICE_PORT"]["value"]) == (
        "127.0.0.1", "6443")
    assert not any(a.startswith("--iface-regex") for a in args)
    # Available means flanneld wrote the subnet file pods' networks are made from.
    assert {"--healthz-ip=127.0.0.1", "--healthz-port=10262"} <= set(args)
    assert ds["containers"][0]["startupProbe"]["httpGet"] == {
        "host": "127.0.0.1", "port": 10262, "path": "/readyz"}


SITE = """
vent:
  cluster:
    api:
      port: 7443
    cluster_cidr: 100.112.0.0/12
    service_cidr: 100.80.0.0/16
    domain: vent.example
  flannel:
    iface: bond0
    iface_regex: "^enp.*"
    vxlan_port: 4789
    healthz_port: 10270
  coredns:
    replicas: 3
  gvisor:
    enabled: false
  artifacts:
    releases:
      coredns:
        version: "1.12.0"
        digests:
          "1.12.0":
            amd64: "sha256:0000000000000000000000000000000000000000000000000000000000000001"
            arm64: "sha256:0000000000000000000000000000000000000000000000000000000000000002"
"""


def test_pillar_changes_show_up_in_the_manifests(tmp_path):
    manifests = rendered(tmp_path, site=SITE)
    objs = objects(manifests)
    assert objs[("Service", "kube-dns")]["spec"]["clusterIP"] == "100.80.0.10"
    assert "kubernetes vent.example in-addr.arpa" in objs[("ConfigMap", "coredns")]["data"]["Corefile"]
    deploy = objs[("Deployment", "coredns")]["spec"]
    assert deploy["replicas"] == 3
    assert deploy["template"]["spec"]["containers"][0]["image"] == (
        "registry.k8s.io/coredns/coredns:v1.12.0@sha256:" + "0" * 63 + "1"
    )
    net_conf = json.loads(objs[("ConfigMap", "kube-flannel-cfg")]["data"]["net-conf.json"])
    assert net_conf["Network"] == "100.112.0.0/12"
    assert net_conf["Backend"]["Port"] == 4789
    args = _flannel_args(objs)
    assert "--iface=bond0" in args and "--iface-regex=^enp.*" in args
    assert "--iface=$(NODE_IP)" not in args
    assert "--healthz-port=10270" in args
    flanneld = objs[("DaemonSet", "kube-flannel-ds")]["spec"]["template"]["spec"]["containers"][0]
    assert flanneld["startupProbe"]["httpGet"]["port"] == 10270
    assert {"name": "KUBERNETES_SERVICE_PORT", "value": "7443"} in flanneld["env"]
    # gVisor off: the RuntimeClass is not applied (clean removes it instead).
    assert ("RuntimeClass", "gvisor") not in objs
    for doc in objs.values():
        kubernetes_validate.validate(doc, k8s_version(tmp_path), strict=True)


def test_pinned_dns_ip_wins_over_the_derived_one(tmp_path):
    site = "vent:\n  cluster:\n    dns_ip: 100.64.0.53\n"
    objs = objects(rendered(tmp_path, site=site))
    assert objs[("Service", "kube-dns")]["spec"]["clusterIP"] == "100.64.0.53"
