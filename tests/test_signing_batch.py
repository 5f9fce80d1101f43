"""How many nodes the orchestration lets sign at once (vent_model.signing_batch):
fewer than the master's worker processes, so remote signings never hold all of them."""

from __future__ import annotations

import pytest
from conftest import settings

from ventlab.model import model


def nodes(workers: int) -> dict:
    found = {"controller-0": {"id": "controller-0", "roles": ["controller"]}}
    found.update({f"worker-{i}": {"id": f"worker-{i}", "roles": ["worker"]} for i in range(workers)})
    found["bastion"] = {"id": "bastion", "roles": []}  # a minion of the site, not a node
    return found


@pytest.mark.parametrize("workers, master_workers, batch", [
    (2, 5, None),    # 3 signers, 5 master workers: all at once
    (4, 5, 4),       # 5 signers would hold all 5 workers: 4 at a time
    (4, 8, None),    # the lab's master (etc/salt/master: 8)
    (40, 8, 7),
    (3, 1, 1),       # a master with one worker still lets one node sign
    (40, None, None),  # not rendered by a master: nothing to bound
])
def test_the_orchestration_keeps_one_master_worker_free_of_signings(workers, master_workers, batch):
    plan = model.orchestration(settings(), nodes(workers), master_workers=master_workers)
    assert plan["signing_batch"] == batch
