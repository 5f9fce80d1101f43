"""How Vent's suite runs on xdist workers (``./vent test``, ``--dist loadscope``): each
test module runs whole on one worker, so its module-scoped masters and minions are set
up once, and the lab modules form one unit that runs last and alone. There is one lab;
its machines run a Kubernetes cluster on the workers' cores, and its drills wait on
timeouts that assume those cores are theirs.

xdist starts a unit while the other workers finish theirs, so the lab's worker also
waits, at its first lab test, until the other workers are done: each worker holds a
shared lock on one file for the run until its tests end, and the lab takes it
exclusively."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

LAB = "lab"
LAB_MODULE_PREFIX = "test_lab_"
_LOCK = pytest.StashKey[int]()


def is_lab_module(nodeid: str) -> bool:
    return Path(nodeid.split("::", 1)[0]).name.startswith(LAB_MODULE_PREFIX)


class LabAloneScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return LAB if is_lab_module(nodeid) else nodeid.split("::", 1)[0]

    def _assign_work_unit(self, node) -> None:
        if next(iter(self.workqueue)) == LAB and len(self.workqueue) > 1:
            self.workqueue.move_to_end(LAB)
        super()._assign_work_unit(node)


def _lock_path(config) -> Path:
    """Beside the workers' own temporary directories (``<basetemp>/popen-gwN``), which
    pytest cleans up with them."""
    return Path(config.option.basetemp).parent / "workers.lock"


def worker_started(config) -> None:
    if hasattr(config, "workerinput"):
        fd = os.open(_lock_path(config), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_SH)
        config.stash[_LOCK] = fd


def worker_finished(config) -> None:
    """A worker process lives on until the whole run ends; its tests are done now."""
    fd = config.stash.get(_LOCK, None)
    if fd is not None:
        del config.stash[_LOCK]
        os.close(fd)


def before_test(item) -> None:
    if item.get_closest_marker("lab") and not is_lab_module(item.nodeid):
        pytest.fail(f"lab tests belong in tests/{LAB_MODULE_PREFIX}*.py, where they run alone", pytrace=False)
    fd = item.config.stash.get(_LOCK, None)
    if fd is not None and is_lab_module(item.nodeid):
        fcntl.flock(fd, fcntl.LOCK_EX)  # returns once every other worker is done
        del item.config.stash[_LOCK]
