"""The vent_pki states beside x509_v2's, with test doubles for the functions they call."""

from __future__ import annotations

import pytest
from conftest import load_salt_module

states = load_salt_module("salt/_states/vent_pki.py", "vent_pki_states_under_test")


@pytest.fixture
def node(monkeypatch):
    present = set()
    fetched = []

    def fetch_double(ca, policies):
        fetched.append((ca, policies))
        return {"fetched": [p for p in policies if p != "vent-admin"],
                "left": {"vent-admin": "minion not permitted to use specified signing policy"}
                if "vent-admin" in policies else {}}

    monkeypatch.setattr(states, "__salt__", {"file.file_exists": present.__contains__,
                                             "vent_pki.fetch_signing_policies": fetch_double},
                        raising=False)
    monkeypatch.setattr(states, "__grains__", {"id": "worker-0"}, raising=False)
    monkeypatch.setattr(states, "__opts__", {"test": False}, raising=False)
    return present, fetched


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


def test_policies_fetched_reports_and_never_fails_for_a_refusal(node):
    _, fetched = node
    ret = states.signing_policies_fetched("ca-0", ["vent-kubelet", "vent-admin"])
    assert fetched == [("ca-0", ["vent-kubelet", "vent-admin"])]
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == ("1 of 2 signing policies from ca-0 in one request; each certificate state "
                              "asks for the others: vent-admin: minion not permitted to use specified "
                              "signing policy")
    assert states.signing_policies_fetched("ca-0", [])["comment"] == (
        "no certificate of this node is signed by another minion")
    assert states.signing_policies_fetched("ca-0", "vent-kubelet")["result"] is False
