"""Test double for salt/_modules/vent_etcd.py: ``wait_healthy`` records the call in the
probe log (pillar probe:log) or fails when pillar probe:fail is ``etcd-health``;
``member_add`` records "etcd-member-add <new member>" (called by the
``vent.etcd_member_add`` runner on a running member)."""

import salt.exceptions

# ruff: noqa: F821 (Salt injects __pillar__ and __grains__)

__virtualname__ = "vent_etcd"


def __virtual__():
    return __virtualname__


def _record(line):
    with open(__pillar__["probe"]["log"], "a+") as fh:
        fh.seek(0)
        if line not in fh.readlines():
            fh.write(line)


def wait_healthy(timeout=None, **kwargs):
    probe = __pillar__.get("probe", {})
    if probe.get("fail") == "etcd-health":
        raise salt.exceptions.CommandExecutionError("probe etcd-health failing on purpose")
    _record(f"etcd-health {__grains__['id']}\n")
    return {"healthy": [__grains__["id"]], "comment": "probe"}


def member_add(name, peer_url, pki_dir=None):
    if __pillar__.get("probe", {}).get("fail") == "etcd-member-add":
        raise salt.exceptions.CommandExecutionError("probe etcd-member-add failing on purpose")
    _record(f"etcd-member-add {name}\n")
    return {"added": True, "comment": f"probe: {name} ({peer_url}) added via {__grains__['id']}"}
