"""Which minions the master gives the generated secrets to, as it compiles their pillar
from pillar/top.sls: the encryption-at-rest key only to the nodes that run
kube-apiserver (the `controller` role grain, the same rule as the service-account key)."""

from __future__ import annotations

import pytest
from conftest import master_overrides, minion_overrides, pillar_dir

pytestmark = pytest.mark.salt

KEY = "Z2Q0c0p5ZUtMZ1hVcXJ5TnFNVm5aUWJiV3B2b2RFQ2o="
ROLES = {"secrets-controller": ["controller"], "secrets-worker": ["worker"],
         "secrets-etcd": ["etcd"]}


@pytest.fixture(scope="module")
def pillars(salt_factories, tmp_path_factory):
    """{minion: the pillar the master compiled for it}, and the master."""
    root = pillar_dir(tmp_path_factory.mktemp("secrets"), site="",
                      secrets={"encryption": f"vent:\n  encryption:\n    key: {KEY}\n"})
    master = salt_factories.salt_master_daemon("secrets-master", overrides=master_overrides(root))
    with master.started():
        minions = [master.salt_minion_daemon(mid, overrides=minion_overrides(roles, host=mid))
                   for mid, roles in ROLES.items()]
        started = [m.started() for m in minions]
        for cm in started:
            cm.__enter__()
        try:
            got = {}
            for minion in minions:
                ret = minion.salt_call_cli(timeout=120).run("pillar.items", "unmask=True")
                assert isinstance(ret.data, dict), ret.stdout + ret.stderr
                got[minion.id] = ret.data
            yield got, master
        finally:
            for cm in reversed(started):
                cm.__exit__(None, None, None)


def test_encryption_key_only_in_a_controllers_pillar(pillars):
    got, _ = pillars
    assert got["secrets-controller"]["vent"]["encryption"]["key"] == KEY
    for mid in ("secrets-worker", "secrets-etcd"):
        assert not got[mid]["vent"]["encryption"]["key"], mid
        assert KEY not in repr(got[mid]), mid
    # The rest of the section is not secret: every node still has it.
    assert got["secrets-worker"]["vent"]["encryption"]["provider"] == "aescbc"


def test_master_reads_the_key_for_validation_before_any_minion_reported(pillars):
    """`salt-run vent.validate` compiles a pillar on the master, for a minion whose
    grains it may not have yet (no minion started): that pillar never leaves the master,
    and validation must find the key there."""
    _, master = pillars
    ret = master.salt_run_cli(timeout=120).run("vent.effective_pillar", "minion_id=not-started-yet")
    assert ret.data["vent"]["encryption"]["key"] == KEY, ret.stdout + ret.stderr
