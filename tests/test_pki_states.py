"""The vent_pki states beside x509_v2's, with test doubles for the functions they call."""

from __future__ import annotations

import pytest
from conftest import load_salt_module

states = load_salt_module("salt/_states/vent_pki.py", "vent_pki_states_under_test")


@pytest.fixture
def node(monkeypatch):
    present = set()
    asked = []

    def fetch_double(ca, policies):
        asked.append(("fetch", ca, policies))
        return {"fetched": [p for p in policies if p != "vent-admin"],
                "left": {"vent-admin": "minion not permitted to use specified signing policy"}
                if "vent-admin" in policies else {}}

    def queue_double(ca, certificates):
        asked.append(("queue", ca, [c["name"] for c in certificates]))
        unreadable = "/pki/kube-proxy.crt"
        return {"queued": [c["name"] for c in certificates if c["name"] != unreadable],
                "left": {unreadable: "its key /pki/kube-proxy.key cannot be read: gone"}
                if any(c["name"] == unreadable for c in certificates) else {}}

    monkeypatch.setattr(states, "__salt__", {"file.file_exists": present.__contains__,
                                             "vent_pki.fetch_signing_policies": fetch_double,
                                             "vent_pki.queue_signing": queue_double},
                        raising=False)
    monkeypatch.setattr(states, "__grains__", {"id": "worker-0"}, raising=False)
    monkeypatch.setattr(states, "__opts__", {"test": False}, raising=False)
    return present, asked


def _certificate(name, policy):
    return {"name": f"/pki/{name}.crt", "signing_policy": policy, "private_key": f"/pki/{name}.key",
            "ca_server": "ca-0", "CN": name}


def test_files_written_fails_naming_what_is_missing_and_what_to_run(node):
    present, _ = node
    present.add("/etc/vent/pki/ca.crt")
    ret = states.files_written("kubelet", ["/etc/vent/pki/ca.crt", "/etc/vent/kubeconfig/kubelet.kubeconfig"])
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == ("kubelet needs /etc/vent/kubeconfig/kubelet.kubeconfig, written by the PKI "
                              "step; apply the pki formula to worker-0 first")


def test_files_written_passes_once_the_pki_wrote_them(node):
    present, _ = node
    present.update({"/a", "/b"})
    assert states.files_written("kube-proxy", ["/a", "/b"])["result"] is True


def test_files_written_in_a_test_run_says_what_a_real_run_will_need(node, monkeypatch):
    monkeypatch.setattr(states, "__opts__", {"test": True}, raising=False)
    ret = states.files_written("kube-proxy", ["/a"])
    assert ret["result"] is None and "kube-proxy needs /a" in ret["comment"]


def test_signing_prepared_fetches_the_policies_of_the_certificates_there(node):
    present, asked = node
    present.update({"/pki/kubelet.crt", "/pki/admin.crt"})
    ret = states.signing_prepared("ca-0", [_certificate("kubelet", "vent-kubelet"),
                                           _certificate("admin", "vent-admin")])
    assert asked == [("fetch", "ca-0", ["vent-admin", "vent-kubelet"])]
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == ("1 of 2 signing policies from ca-0 in one request; each certificate state "
                              "asks for the others: vent-admin: minion not permitted to use specified "
                              "signing policy")


def test_signing_prepared_queues_the_missing_certificates_and_reports_those_left(node):
    present, asked = node
    present.add("/pki/kubelet.crt")
    ret = states.signing_prepared("ca-0", [_certificate("kubelet", "vent-kubelet"),
                                           _certificate("kubelet-serving", "vent-kubelet-serving"),
                                           _certificate("kube-proxy", "vent-kube-proxy")])
    assert asked == [("fetch", "ca-0", ["vent-kubelet"]),
                     ("queue", "ca-0", ["/pki/kubelet-serving.crt", "/pki/kube-proxy.crt"])]
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == ("1 of 1 signing policies from ca-0 in one request; 1 of 2 missing "
                              "certificates queued to be signed by ca-0 in one request; each "
                              "certificate state asks for the others: /pki/kube-proxy.crt: its key "
                              "/pki/kube-proxy.key cannot be read: gone")


def test_signing_prepared_queues_nothing_in_a_test_run(node, monkeypatch):
    _, asked = node
    monkeypatch.setattr(states, "__opts__", {"test": True}, raising=False)
    ret = states.signing_prepared("ca-0", [_certificate("kubelet", "vent-kubelet")])
    assert asked == [] and ret["result"] is True
    assert ret["comment"] == "1 missing certificates would be signed by ca-0 in one request"


def test_signing_prepared_on_the_ca_asks_nothing_and_refuses_bad_input(node):
    _, asked = node
    assert states.signing_prepared("ca-0", [])["comment"] == (
        "no certificate of this node is signed by another minion")
    for bad in ("vent-kubelet", ["vent-kubelet"], [{"name": "/pki/kubelet.crt"}]):
        ret = states.signing_prepared("ca-0", bad)
        assert ret["result"] is False and ret["comment"].startswith(
            "certificates: a list of x509.certificate_managed arguments with name, signing_policy")
    assert asked == []
