"""Test double for salt/_modules/vent_etcd.py: ``wait_healthy`` records the call in the
probe log (pillar probe:log) or fails when pillar probe:fail is ``etcd-health``."""

import salt.exceptions

# ruff: noqa: F821 (Salt injects __pillar__ and __grains__)

__virtualname__ = "vent_etcd"


def __virtual__():
    return __virtualname__


def wait_healthy(timeout=None, **kwargs):
    probe = __pillar__.get("probe", {})
    if probe.get("fail") == "etcd-health":
        raise salt.exceptions.CommandExecutionError("probe etcd-health failing on purpose")
    line = f"etcd-health {__grains__['id']}\n"
    with open(probe["log"], "a+") as fh:
        fh.seek(0)
        if line not in fh.readlines():
            fh.write(line)
    return {"healthy": [__grains__["id"]], "comment": "probe"}
