"""Operator runners against a real master and minions by role grain, with no
Kubernetes behind them: they must say what is missing and exit non-zero."""

from __future__ import annotations

import pytest
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
