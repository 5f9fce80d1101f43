"""The master's worker pools (etc/salt/master) against the stall of remote signing.
The master worker serving a minion's peer publish (``minion_pub``: publish.publish,
as x509_v2 signs remotely) sends the job's ``publish`` to the same master and waits
for it; the master deals requests round-robin, to busy workers too. With the pools of
etc/salt/master, ``publish`` has workers of its own, so the answer comes even when
every pool has a single worker. With one pool of one worker (Salt's layout for
``worker_threads: 1``) the publish waits behind its own worker and the master stops
answering anyone for minutes (docs/upstream/salt-master-peer-publish-stall.md): this
test then fails on its call's timeout."""

from __future__ import annotations

import pytest
import yaml
from conftest import MASTER_CONFIG, REPO, master_overrides, minion_overrides

from ventlab.model import model

pytestmark = pytest.mark.salt

MINION = "controller-0"
POLICY = "no-such-policy"


def smallest(pools: dict) -> dict:
    """``pools`` with one worker each: the least a master of that layout runs."""
    return {name: {**pool, "worker_count": 1} for name, pool in pools.items()}


ONE_POOL = {"default": {"worker_count": 1, "commands": ["*"]}}


@pytest.fixture(scope="module")
def peer_call(salt_factories):
    pools = smallest(MASTER_CONFIG["worker_pools"])
    master = salt_factories.salt_master_daemon(
        "pools", overrides={**master_overrides(), "worker_pools": pools})
    with master.started():
        minion = master.salt_minion_daemon(MINION, overrides=minion_overrides(["controller"]))
        with minion.started():
            assert minion.salt_call_cli(timeout=120).run("saltutil.sync_all").returncode == 0
            yield minion.salt_call_cli(timeout=60)


def test_the_shipped_pools_give_publish_workers_that_serve_nothing_else():
    """What the orchestration reads of them (vent_model.signing_workers) agrees with
    what Salt's own router does with the master's commands."""
    from salt.master import RequestRouter

    pools = MASTER_CONFIG["worker_pools"]
    router = RequestRouter({"worker_pools": pools})
    publish = router.route_request({"enc": "clear", "load": {"cmd": "publish"}})
    # A minion's request as the router sees it: sealed with the minion's session key,
    # which the router does not try, so whatever its command it goes to the `*` pool.
    minion_pub = router.route_request({"enc": "aes", "load": b"sealed", "id": MINION, "version": 3})
    assert publish != minion_pub == next(n for n, p in pools.items() if "*" in p["commands"])
    assert model.signing_workers(pools, None) is None
    assert model.signing_workers(ONE_POOL, None) == 1


def test_a_peer_publish_is_answered_with_one_worker_in_each_pool(peer_call):
    ret = peer_call.run("publish.publish", MINION, "vent_pki.remote_signing_policies", f'[["{POLICY}"]]')
    assert ret.returncode == 0, ret.stdout + ret.stderr
    answer = ret.data[MINION][POLICY]
    assert answer["data"] is None and answer["errors"], answer  # x509_v2's refusal: an answer


def test_the_readmes_site_master_serves_peers_as_the_shipped_one_does():
    """A site copies README's master.d/vent.conf, not etc/salt/master."""
    readme = (REPO / "README.md").read_text()
    block = next(b for b in readme.split("```yaml")[1:] if "/etc/salt/master.d/vent.conf" in b)
    site = yaml.safe_load(block.split("```", 1)[0])
    assert site["worker_pools"] == MASTER_CONFIG["worker_pools"]
    assert site["peer"] == MASTER_CONFIG["peer"]
