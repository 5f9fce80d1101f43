"""vent.status's table from the nodes' answers, with the master's jobs as test doubles.
Each node is asked one function: a multi-function job running on a minion breaks every
state run queued there (docs/upstream/salt-is-running-multi-function-job.md)."""

from __future__ import annotations

from conftest import load_salt_module, settings

status = load_salt_module("salt/_runners/vent_status.py", "vent_status_under_test")

NODES = {
    "controller-0": {"roles": ["controller"], "private_ip": "100.72.0.2", "public_ip": "198.18.0.2"},
    "worker-0": {"roles": ["worker"], "private_ip": "100.72.0.3", "public_ip": "198.18.0.3"},
    "worker-1": {"roles": ["worker"], "private_ip": "100.72.0.4", "public_ip": "198.18.0.4"},
}


def _report(role, expiry):
    units = {u: True for r in role for u in status._model("units", r)}
    return {"units": units, "certificates": {"/etc/vent/pki/a.crt": {"not_after": expiry}}}


def test_each_node_is_asked_one_function_and_the_table_reads_its_answer(monkeypatch):
    published = {}

    def cmd_together_double(jobs, gate=None):
        published.update(jobs)
        # worker-1 is silent; worker-0 answers, its vent_cluster failing.
        return {"nodes": {"controller-0": (True, _report(("etcd", "controller"), "2027-01-02 00:00:00")),
                          "worker-0": (False, "'vent_cluster.status_report' is not available.")},
                "etcd": {"controller-0": (True, True)}, "api": {}}

    real_ops = status._ops
    doubles = {"cluster_nodes": lambda opts: NODES, "cmd_together": cmd_together_double,
               "api_verdicts": lambda controllers, answers: dict.fromkeys(controllers, "ready"),
               "text": lambda text, code: (text, code)}
    monkeypatch.setattr(status, "_ops", lambda fun, *a, **kw: doubles[fun](*a, **kw) if fun in doubles
                        else real_ops(fun, *a, **kw))
    monkeypatch.setattr(status, "__salt__", {"pillar.show_pillar": lambda: {"vent": settings()}},
                        raising=False)
    monkeypatch.setattr(status, "__opts__", {}, raising=False)

    text, code = status.status()

    assert {name: job[1] for name, job in published.items() if name != "api"} == {
        "nodes": "vent_cluster.status_report", "etcd": "vent_etcd.wait_healthy"}
    assert all(isinstance(job[1], str) for job in published.values())
    assert published["nodes"][0] == sorted(NODES) and published["nodes"][2] == ["/etc/vent/pki/*.crt"]
    rows = {line.split()[0]: line.split() for line in text.splitlines()[1:4]}
    assert rows["controller-0"][4:8] == ["yes", "all", "up", "healthy"]
    assert rows["controller-0"][8:] == ["ready", "2027-01-02", "00:00:00", "(a.crt)"]
    assert rows["worker-0"][4:6] == ["yes", "down:"]  # it answered: up, its services not known
    assert rows["worker-1"][4:6] == ["NO", "unknown"]
    assert code == 1
