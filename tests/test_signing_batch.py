"""How many nodes the orchestration lets sign at once (vent_model.signing_batch), from
the master workers that serve both remote signings and the ``publish`` each waits on
(vent_model.signing_workers): all at once when there are none."""

from __future__ import annotations

import pytest
from conftest import MASTER_CONFIG, settings

from ventlab.model import model


def nodes(workers: int) -> dict:
    found = {"controller-0": {"id": "controller-0", "roles": ["controller"]}}
    found.update({f"worker-{i}": {"id": f"worker-{i}", "roles": ["worker"]} for i in range(workers)})
    found["bastion"] = {"id": "bastion", "roles": []}  # a minion of the site, not a node
    return found


def pools(publish_own: bool, catchall: int = 5) -> dict:
    out = {"auth": {"worker_count": 1, "commands": ["_auth"]},
           "default": {"worker_count": catchall, "commands": ["*"]}}
    if publish_own:
        out["publish"] = {"worker_count": 1, "commands": ["publish"]}
    return out


@pytest.mark.parametrize("layout, threads, shared", [
    (MASTER_CONFIG["worker_pools"], None, None),  # etc/salt/master
    (pools(publish_own=True), 5, None),
    (pools(publish_own=False), 8, 5),  # Salt's own layout: publish in the `*` pool
    ({"default": {"worker_count": 8, "commands": ["*"]}}, 8, 8),  # from worker_threads: 8
    (None, 8, 8),  # worker_pools_enabled: False
    (None, None, None),  # not rendered by a master
])
def test_signing_workers_are_those_of_the_pool_serving_publish_too(layout, threads, shared):
    assert model.signing_workers(layout, threads) == shared


@pytest.mark.parametrize("workers, shared, batch", [
    (40, None, None),  # publish has workers of its own: all at once
    (2, 5, None),    # 3 signers, 5 shared master workers: all at once
    (4, 5, 4),       # 5 signers would hold all 5 workers: 4 at a time
    (40, 8, 7),
    (3, 1, 1),       # a master with one worker still lets one node sign
])
def test_signings_in_a_shared_pool_leave_one_of_its_workers_free(workers, shared, batch):
    plan = model.orchestration(settings(), nodes(workers), shared_workers=shared)
    assert plan["signing_batch"] == batch
