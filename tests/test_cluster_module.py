"""vent_cluster's answers that need the minion itself, with test doubles for the
commands they run."""

from __future__ import annotations

from conftest import load_salt_module

cluster = load_salt_module("salt/_modules/vent_cluster.py", "vent_cluster_under_test")

WORKER = {"controller": False, "etcd": False, "compute": True, "ca": False}


def _node(monkeypatch, run_all, roles=WORKER, status=None):
    calls = []

    def run_all_double(cmd, **kwargs):
        calls.append(cmd)
        return run_all

    salt = {"cmd.run_all": run_all_double,
            "service.status": lambda unit: (status or {}).get(unit, False)}
    monkeypatch.setattr(cluster, "__salt__", salt, raising=False)
    monkeypatch.setattr(cluster, "__context__", {}, raising=False)
    monkeypatch.setattr(cluster, "roles", lambda: roles)
    monkeypatch.setattr(cluster.salt.utils.path, "which", lambda name: f"/usr/bin/{name}")
    return calls


def test_unit_states_from_one_systemctl_call(monkeypatch):
    calls = _node(monkeypatch, {"retcode": 3, "stdout": "active\nfailed\nreloading\n"})
    assert cluster.unit_states() == {"containerd": True, "kubelet": False, "kube-proxy": True}
    assert calls == [["systemctl", "is-active", "containerd", "kubelet", "kube-proxy"]]


def test_unit_states_ask_each_unit_when_systemctl_answers_otherwise(monkeypatch):
    _node(monkeypatch, {"retcode": 1, "stdout": "Failed to connect to bus"},
          status={"kubelet": True})
    assert cluster.unit_states() == {"containerd": False, "kubelet": True, "kube-proxy": False}


def test_unit_states_ask_each_unit_without_systemctl(monkeypatch):
    calls = _node(monkeypatch, {}, status={"containerd": True})
    monkeypatch.setattr(cluster.salt.utils.path, "which", lambda name: None)
    assert cluster.unit_states() == {"containerd": True, "kubelet": False, "kube-proxy": False}
    assert calls == []


def test_a_node_without_units_asks_nothing(monkeypatch):
    calls = _node(monkeypatch, {}, roles=dict.fromkeys(WORKER, False))
    assert cluster.unit_states() == {} and calls == []


def test_container_detected_once_a_job(monkeypatch):
    calls = _node(monkeypatch, {"retcode": 0, "stdout": "systemd-nspawn\n"})
    monkeypatch.setattr(cluster, "__grains__", {"virtual": "physical"}, raising=False)
    for _ in range(3):
        assert cluster.container() == {"in_container": True, "kind": "systemd-nspawn"}
    assert calls == [["systemd-detect-virt", "--container"]]


def test_no_container_on_a_machine(monkeypatch):
    _node(monkeypatch, {"retcode": 1, "stdout": "none\n"})
    monkeypatch.setattr(cluster, "__grains__", {"virtual": "kvm"}, raising=False)
    assert cluster.container() == {"in_container": False, "kind": "linux"}


def test_the_mine_update_is_the_installed_salts():
    # mine_update does the work of this Salt's mine.update; when Salt changes it this
    # fails, the signal to look again (until then Salt's own is used).
    import salt.modules.mine

    digest = cluster._util("vent_upstream.source_digest")
    assert digest(salt.modules.mine.update, salt.modules.mine._mine_store) == cluster.MINE_UPDATE_SOURCE


def test_status_report_is_one_function_with_units_and_certificates(monkeypatch):
    _node(monkeypatch, {"retcode": 0, "stdout": "active\nactive\nactive\n"})
    read = []

    def read_certificates_double(glob):
        read.append(glob)
        return {"/etc/vent/pki/kubelet.crt": {"not_after": "2027-12-06 00:00:00"}}

    cluster.__salt__["x509.read_certificates"] = read_certificates_double
    assert cluster.status_report("/etc/vent/pki/*.crt") == {
        "units": {"containerd": True, "kubelet": True, "kube-proxy": True},
        "certificates": {"/etc/vent/pki/kubelet.crt": {"not_after": "2027-12-06 00:00:00"}}}
    assert read == ["/etc/vent/pki/*.crt"]
