"""Control-plane flags rendered from pillar (1 and 3 controllers), checked against the
vendored 1.32 flag lists; the apply decision; the bounded health wait over real TLS."""

from __future__ import annotations

import copy
import http.server
import time

import pki_for_tests
import pytest
import yaml
from conftest import REPO, load_salt_module, settings

from ventlab.model import model

k8s = load_salt_module("salt/_modules/vent_k8s.py", "vent_k8s_under_test")
FLAG_DATA = REPO / "tests" / "data" / "k8s-flags"
BINARY = model.control_plane()


def _vendored(binary):
    known, deprecated = set(), set()
    for line in (FLAG_DATA / f"{binary}.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, *mark = line.split()
        known.add(name)
        if mark == ["deprecated"]:
            deprecated.add(name)
    return known, deprecated


def _nodes(count):
    return {
        f"controller-{i}": {"id": f"controller-{i}", "roles": ["controller"],
                            "private_ip": f"100.72.0.{10 + i}", "public_ip": f"198.18.0.{10 + i}"}
        for i in range(count)
    } | {"worker-0": {"id": "worker-0", "roles": ["worker"], "private_ip": "100.72.0.50"}}


@pytest.fixture
def vent():
    return settings()


CONTROLLERS = pytest.mark.parametrize("count", [1, 3])


@CONTROLLERS
@pytest.mark.parametrize("component", sorted(BINARY))
def test_every_rendered_flag_exists_in_the_pinned_version(vent, count, component):
    assert vent["artifacts"]["releases"]["kubernetes"]["version"].startswith("1.37."), (
        "the vendored flag lists are for 1.37; vendor the new version's lists with the pin")
    known, deprecated = _vendored(BINARY[component])
    flags = k8s.render_flags(component, vent, "100.72.0.10", _nodes(count))
    assert k8s.unknown_flags(flags, known, deprecated) == []


@pytest.mark.parametrize(("component", "flag"), [
    ("apiserver", "insecure-port"),            # removed in 1.24
    ("apiserver", "admission-control"),        # deprecated
    ("controller_manager", "horizontal-pod-autoscaler-use-rest-clients"),  # removed in 1.21
    ("scheduler", "kubeconfig"),               # deprecated for kube-scheduler
    ("scheduler", "no-such-flag"),
])
def test_a_removed_or_unknown_flag_is_caught(vent, component, flag):
    vent["kubernetes"][f"{component}_flags"] = {flag: "x"}
    known, deprecated = _vendored(BINARY[component])
    flags = k8s.render_flags(component, vent, "100.72.0.10", _nodes(1))
    assert k8s.unknown_flags(flags, known, deprecated) == [flag]


@CONTROLLERS
def test_apiserver_flags(vent, count):
    f = k8s.render_flags("apiserver", vent, "100.72.0.10", _nodes(count))
    pki = "/etc/vent/pki"
    expected_etcd = ",".join(f"https://100.72.0.{10 + i}:2379" for i in range(count))
    assert f["etcd-servers"] == expected_etcd
    assert f["bind-address"] == "0.0.0.0" and f["secure-port"] == "6443"  # noqa: S104
    assert f["advertise-address"] == "100.72.0.10"
    assert f["service-cluster-ip-range"] == "100.64.0.0/13"
    assert f["authorization-mode"] == "Node,RBAC"
    assert "NodeRestriction" in f["enable-admission-plugins"].split(",")
    assert f["etcd-cafile"] == f"{pki}/etcd-ca.crt"
    assert f["etcd-certfile"] == f"{pki}/apiserver-etcd-client.crt"
    assert f["etcd-keyfile"] == f"{pki}/apiserver-etcd-client.key"
    assert f["encryption-provider-config"] == "/etc/vent/encryption-config.yaml"
    assert f["audit-policy-file"] == "/etc/vent/kubernetes/audit-policy.yaml"
    assert f["audit-log-path"] == "/var/log/kube-apiserver/audit.log"
    assert (f["audit-log-maxage"], f["audit-log-maxbackup"], f["audit-log-maxsize"]) == ("7", "5", "100")
    assert f["service-account-issuer"] == "https://kubernetes.default.svc.cluster.local"
    assert f["service-account-key-file"] == f"{pki}/service-account.pub"
    assert f["service-account-signing-key-file"] == f"{pki}/service-account.key"
    assert f["kubelet-client-certificate"] == f"{pki}/apiserver-kubelet-client.crt"
    assert f["kubelet-client-key"] == f"{pki}/apiserver-kubelet-client.key"
    assert f["kubelet-certificate-authority"] == f"{pki}/ca.crt"
    assert f["tls-cert-file"] == f"{pki}/apiserver.crt"
    assert f["client-ca-file"] == f"{pki}/ca.crt"
    # Anonymous access comes from the authentication config (health paths only);
    # upstream rejects --anonymous-auth next to it, and no insecure port exists.
    assert f["authentication-config"] == "/etc/vent/kubernetes/authentication-config.yaml"
    assert "anonymous-auth" not in f and "insecure-port" not in f
    assert "requestheader-client-ca-file" not in f


def test_apiserver_front_proxy_flags_follow_pki_setting(vent):
    vent["pki"]["front_proxy"] = True
    f = k8s.render_flags("apiserver", vent, "100.72.0.10", _nodes(1))
    assert f["requestheader-client-ca-file"] == "/etc/vent/pki/front-proxy-ca.crt"
    assert f["proxy-client-cert-file"] == "/etc/vent/pki/front-proxy-client.crt"


def test_dedicated_etcd_nodes_are_preferred(vent):
    nodes = _nodes(3)
    nodes["etcd-0"] = {"roles": ["etcd"], "private_ip": "100.72.0.90"}
    f = k8s.render_flags("apiserver", vent, "100.72.0.10", nodes)
    assert f["etcd-servers"] == "https://100.72.0.90:2379"


def test_missing_private_ip_names_the_grain(vent):
    with pytest.raises(Exception, match="vent:private_ip"):
        k8s.render_flags("apiserver", vent, None, _nodes(1))


def test_no_etcd_in_mine_says_what_to_run(vent):
    with pytest.raises(Exception, match="mine.update"):
        k8s.render_flags("apiserver", vent, "100.72.0.10", {})


@CONTROLLERS
def test_controller_manager_flags(vent, count):
    f = k8s.render_flags("controller_manager", vent, "100.72.0.10", _nodes(count))
    kc = "/etc/vent/kubeconfig/kube-controller-manager.kubeconfig"
    assert f["bind-address"] == "127.0.0.1"
    assert f["kubeconfig"] == f["authentication-kubeconfig"] == f["authorization-kubeconfig"] == kc
    assert f["leader-elect"] == "true"
    assert f["allocate-node-cidrs"] == "true"
    assert f["cluster-cidr"] == "100.96.0.0/11"
    assert f["node-cidr-mask-size"] == "24"
    assert f["service-cluster-ip-range"] == "100.64.0.0/13"
    assert f["use-service-account-credentials"] == "true"
    assert f["service-account-private-key-file"] == "/etc/vent/pki/service-account.key"
    assert f["root-ca-file"] == "/etc/vent/pki/ca.crt"


def test_controller_manager_api_rate_comes_from_pillar(vent):
    """Above the binary's own 20/30, which held a new cluster's controllers back while
    each got its service account token; a site may set its own."""
    f = k8s.render_flags("controller_manager", vent, "100.72.0.10", _nodes(1))
    assert int(f["kube-api-qps"]) > 20 and int(f["kube-api-burst"]) > 30, f
    vent["kubernetes"]["controller_manager_api"] = {"qps": 7, "burst": 9}
    f = k8s.render_flags("controller_manager", vent, "100.72.0.10", _nodes(1))
    assert (f["kube-api-qps"], f["kube-api-burst"]) == ("7", "9")


@CONTROLLERS
def test_scheduler_flags(vent, count):
    f = k8s.render_flags("scheduler", vent, "100.72.0.10", _nodes(count))
    assert f["bind-address"] == "127.0.0.1"
    assert f["config"] == "/etc/vent/kubernetes/kube-scheduler.yaml"
    kc = "/etc/vent/kubeconfig/kube-scheduler.kubeconfig"
    assert f["authentication-kubeconfig"] == f["authorization-kubeconfig"] == kc


def test_pillar_adds_overrides_and_drops_flags(vent):
    vent["kubernetes"]["apiserver_flags"] = {
        "--event-ttl": "2h", "v": 4, "profiling": None, "tls-min-version": "VersionTLS13"}
    f = k8s.render_flags("apiserver", vent, "100.72.0.10", _nodes(1))
    assert f["event-ttl"] == "2h" and f["v"] == "4" and f["tls-min-version"] == "VersionTLS13"
    assert "profiling" not in f


def test_exec_args_quote_values_with_spaces():
    assert k8s.exec_args({"a": "1", "b": "x y"}) == ["--a=1", '"--b=x y"']


def test_cidrs_follow_the_cluster_pillar(vent):
    vent["cluster"]["service_cidr"] = "100.80.0.0/16"
    vent["cluster"]["cluster_cidr"] = "100.128.0.0/12"
    cm = k8s.render_flags("controller_manager", vent, "100.72.0.10", _nodes(1))
    api = k8s.render_flags("apiserver", vent, "100.72.0.10", _nodes(1))
    assert api["service-cluster-ip-range"] == cm["service-cluster-ip-range"] == "100.80.0.0/16"
    assert cm["cluster-cidr"] == "100.128.0.0/12"


# --- apply decision (unit test of the pure function; the kubectl path runs in the lab)


BINDING = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRoleBinding",
    "metadata": {"name": "vent:kube-apiserver-kubelet-api-admin",
                 "labels": {"app.kubernetes.io/managed-by": "vent"}},
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                "name": "system:kubelet-api-admin"},
    "subjects": [{"kind": "User", "name": "kube-apiserver-kubelet-client"}],
}


def _live(obj):
    live = copy.deepcopy(obj)
    live["metadata"].update({"resourceVersion": "812", "uid": "0b7c",
                             "creationTimestamp": "2025-01-01T00:00:00Z",
                             "managedFields": [{"manager": "vent"}]})
    live["metadata"]["labels"]["extra"] = "added-by-someone"
    for s in live.get("subjects", []):
        s.setdefault("apiGroup", "rbac.authorization.k8s.io")
    return live


def test_missing_object_is_created():
    assert k8s.plan(BINDING, None) == ("create", [])


def test_live_object_with_server_fields_is_unchanged():
    assert k8s.plan(BINDING, _live(BINDING)) == (None, [])


def test_changed_subject_is_updated():
    live = _live(BINDING)
    live["subjects"][0]["name"] = "someone-else"
    assert k8s.plan(BINDING, live) == ("update", ["subjects[0].name"])


def test_extra_live_list_item_is_updated():
    live = _live(BINDING)
    live["subjects"].append({"kind": "User", "name": "intruder"})
    action, fields = k8s.plan(BINDING, live)
    assert action == "update" and fields == ["subjects"]


def test_server_normalised_quantities_count_as_equal():
    desired = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "x"},
               "spec": {"limits": [{"type": "Container", "max": {"cpu": 1}}]}}
    live = copy.deepcopy(desired)
    live["spec"]["limits"][0]["max"]["cpu"] = "1"
    assert k8s.plan(desired, live) == (None, [])


def test_boolean_difference_is_not_hidden():
    desired = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"},
               "automountServiceAccountToken": False}
    live = copy.deepcopy(desired)
    live["automountServiceAccountToken"] = True
    assert k8s.plan(desired, live)[0] == "update"


def test_manifest_text_is_split_into_objects(tmp_path):
    text = yaml.safe_dump(BINDING) + "---\n---\n" + yaml.safe_dump(
        {"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}]})
    objs = k8s.load_manifest(text)
    assert [k8s.object_id(o) for o in objs] == [
        "ClusterRoleBinding/vent:kube-apiserver-kubelet-api-admin", "Namespace/a"]
    path = tmp_path / "m.yaml"
    path.write_text(text)
    assert k8s.load_manifest(str(path)) == objs


def test_object_without_name_is_refused():
    with pytest.raises(Exception, match="metadata.name"):
        k8s.load_manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {}})


# --- health wait against a real TLS listener on loopback (a test double of the API's
# health endpoints; the real API answers in the lab)


class FakeHealthEndpoints(http.server.BaseHTTPRequestHandler):
    """Test double: /livez ok at once, /readyz ok after `ready_after` seconds."""

    ready_at = 0.0

    def do_GET(self):  # noqa: N802
        ok = self.path == "/livez" or (self.path == "/readyz" and time.monotonic() >= self.ready_at)
        body = b"ok" if ok else b"[-]etcd failed: not ready"
        self.send_response(200 if ok else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path):
    handler = type("Handler", (FakeHealthEndpoints,), {"ready_at": time.monotonic() + 1.0})
    with pki_for_tests.https_server(tmp_path, handler) as (url, ca_path):
        yield url, ca_path, tmp_path


def test_wait_healthy_waits_for_readyz(tls_server):
    url, ca, _ = tls_server
    out = k8s.wait_healthy(url, str(ca), timeout=15, interval=0.2)
    assert out["ok"], out
    assert out["status"] == {"/livez": "ok", "/readyz": "ok"}
    assert 0.8 <= out["elapsed"] < 10


def test_wait_healthy_is_bounded_and_reports_the_failing_path(tls_server):
    url, ca, _ = tls_server
    start = time.monotonic()
    out = k8s.wait_healthy(url, str(ca), timeout=0.5, interval=0.1, paths=["/livez", "/nope"])
    assert time.monotonic() - start < 5
    assert not out["ok"] and out["status"]["/livez"] == "ok"
    assert out["status"]["/nope"].startswith("HTTP 500")


def test_wait_healthy_refuses_a_server_the_ca_did_not_sign(tls_server):
    url, _, tmp = tls_server
    other_ca = tmp / "other-ca.crt"
    pki_for_tests.write_ca(other_ca, "other-ca")
    out = k8s.wait_healthy(url, str(other_ca), timeout=0.5, interval=0.1)
    assert not out["ok"]
    assert "CERTIFICATE_VERIFY_FAILED" in out["status"]["/livez"]
