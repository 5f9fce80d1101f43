"""Operator runners against a real master and minions by role grain, with no
Kubernetes behind them: they must say what is missing and exit non-zero."""

from __future__ import annotations

import time

import pytest
import salt.config
import salt.loader
from test_orch import cluster, configure, orchestrate  # noqa: F401 (fixture)

pytestmark = pytest.mark.salt


@pytest.fixture(scope="module")
def refreshed(cluster):  # noqa: F811
    configure(cluster, "runners")
    ret, _ = orchestrate(cluster, 'pillar={"vent": {"orchestrate": {"stop_after": "validate"}}}')
    assert ret.returncode == 0, ret.stdout
    return cluster


def run(env, *args):
    return env["master"].salt_run_cli(timeout=120).run(*args, "--out=vent_text")


def test_public_ip_lists_the_controllers_from_the_mine(refreshed):
    ret = run(refreshed, "vent.public_ip")
    assert ret.returncode == 0, ret.stdout
    assert ret.stdout.strip() == "controller-0 198.18.0.2"


def test_status_table_says_missing_and_fails(refreshed):
    ret = run(refreshed, "vent.status")
    assert ret.returncode != 0
    lines = ret.stdout.splitlines()
    assert lines[0].split()[:2] == ["NODE", "ROLES"]
    rows = {ln.split()[0]: ln for ln in lines[1:4]}
    assert set(rows) == {"controller-0", "worker-0", "worker-1"}
    assert "198.18.0.3" in rows["worker-0"] and "100.72.0.3" in rows["worker-0"]
    assert " yes " in rows["worker-1"]
    assert "down: containerd,kubelet,kube-proxy" in rows["worker-1"]
    assert rows["controller-0"].rstrip().endswith("missing")  # no certificates yet


def test_smoke_fails_first_on_an_unreachable_api(refreshed):
    ret = run(refreshed, "vent.smoke")
    assert ret.returncode != 0
    lines = ret.stdout.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("FAILED api: API not reachable through controller-0"), lines


def _table(stdout):
    """{node: {column: cell}} of the vent.status table, cut at the header's columns."""
    lines = stdout.splitlines()
    header = lines[0]
    names = ["NODE", "ROLES", "PUBLIC IP", "PRIVATE IP", "SALT", "SERVICES", "ETCD", "APISERVER",
             "FIRST CERT EXPIRY"]
    starts = [header.index(n) for n in names] + [None]
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:], strict=False)]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def test_status_names_a_silent_minion_and_still_asks_the_others(refreshed):
    with refreshed["minions"]["worker-1"].stopped():
        ret = run(refreshed, "vent.status")
    assert ret.returncode != 0
    rows = _table(ret.stdout)
    assert set(rows) == {"controller-0", "worker-0", "worker-1"}
    silent = rows["worker-1"]
    assert (silent["SALT"], silent["SERVICES"], silent["FIRST CERT EXPIRY"]) == ("NO", "unknown", "missing")
    assert rows["worker-0"]["SALT"] == "yes"
    assert rows["worker-0"]["SERVICES"] == "down: containerd,kubelet,kube-proxy"
    # controller-0's etcd check went out to the nodes that answered and was answered
    # (the probe's double says healthy; unanswered, it would read "unknown").
    assert rows["controller-0"]["ETCD"] == "healthy", rows["controller-0"]


def test_the_refresh_steps_mine_update_is_stored_when_it_returns(refreshed):
    """vent_cluster.mine_update: the master has stored the data when the job returns
    (mine.update fires it at the minion daemon and sleeps a fixed 0.5 s instead)."""
    master = refreshed["master"]
    assert master.salt_run_cli().run("cache.flush", "mine", "worker-0").returncode == 0
    assert not master.salt_run_cli().run("mine.get", "worker-0", "vent_node").data
    ret = master.salt_cli(timeout=60).run("vent_cluster.mine_update", minion_tgt="worker-0")
    assert ret.returncode == 0 and ret.data is True, ret.stdout
    node = master.salt_run_cli().run("mine.get", "worker-0", "vent_node").data["worker-0"]
    assert (node["id"], node["roles"], node["private_ip"]) == ("worker-0", ["worker"], "100.72.0.3")


def _master_utils(env):
    opts = salt.config.master_config(env["master"].config["conf_file"])
    return salt.loader.utils(opts)


def test_a_job_is_waited_for_past_its_timeout_while_the_minion_still_runs_it(refreshed):
    job = _master_utils(refreshed)["vent_ops.job"]
    started = time.monotonic()
    out = job(["worker-0"], "test.sleep", [3], timeout=1)
    waited = time.monotonic() - started
    assert out == {"worker-0": {"ret": True, "retcode": 0}}
    # taken as it came, not once find_job's answers were read (1 s + gather_job_timeout)
    assert 3 <= waited < 3 + refreshed["master"].config["gather_job_timeout"] / 2, waited


def test_a_silent_minion_is_left_out_once_find_job_has_not_seen_it_running(refreshed):
    job = _master_utils(refreshed)["vent_ops.job"]
    with refreshed["minions"]["worker-1"].stopped():
        started = time.monotonic()
        out = job(["worker-0", "worker-1"], "test.ping", timeout=2)
        waited = time.monotonic() - started
    assert out == {"worker-0": {"ret": True, "retcode": 0}}
    # its timeout, then gather_job_timeout for find_job, and no more
    gather = refreshed["master"].config["gather_job_timeout"]
    assert 2 <= waited < 2 + gather + 10, waited


def test_a_minion_silent_at_the_gate_costs_the_jobs_beside_it_no_second_timeout(refreshed):
    together = _master_utils(refreshed)["vent_ops.jobs_together"]
    gather = refreshed["master"].config["gather_job_timeout"]
    both = ["worker-0", "worker-1"]
    with refreshed["minions"]["worker-1"].stopped():
        started = time.monotonic()
        out = together({"ping": (both, "test.ping", [], None, 8),
                        "beside": (both, "test.echo", ["hi"], None, 8)}, gate="ping")
        waited = time.monotonic() - started
    assert out == {"ping": {"worker-0": {"ret": True, "retcode": 0}},
                   "beside": {"worker-0": {"ret": "hi", "retcode": 0}}}
    # the gate's timeout and find_job; the job beside it only its one-second find_job
    # (its own timeout ran out while the gate was waited for)
    assert 8 + gather <= waited < 8 + gather + 5, waited
