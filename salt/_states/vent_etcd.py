"""The etcd cluster's health as a state, so the etcd formula can end with it (the way
the control plane's ends with its /readyz check) and report no changes when healthy."""

from __future__ import annotations

import salt.exceptions

__virtualname__ = "vent_etcd"


def __virtual__():
    if "vent_etcd.wait_healthy" in __salt__:
        return __virtualname__
    return False, "the vent_etcd execution module is not loaded"


def healthy(name, timeout=None):
    """Every etcd member answers ``etcdctl endpoint health`` over TLS within
    ``timeout`` seconds (default vent:etcd:health_timeout). Makes no changes.

    name
        A label for the check (shown in the output)."""
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = "would wait for every etcd member to answer over TLS"
        return ret
    try:
        out = __salt__["vent_etcd.wait_healthy"](timeout=timeout)
    except salt.exceptions.CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    ret["result"] = True
    ret["comment"] = f"{out['comment']}: {', '.join(out['healthy'])}"
    return ret
