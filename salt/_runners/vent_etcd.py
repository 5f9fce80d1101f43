"""Day-2 etcd commands: ``salt-run vent.etcd_snapshot`` and ``salt-run vent.etcd_member_add``.

The members and their URLs come from the ``vent_etcd`` execution module over the
mine, as on the nodes; the commands run on a member through the local client.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time

import salt.client
import salt.exceptions
import salt.runner

__virtualname__ = "vent"

def __virtual__():
    return __virtualname__


def _members():
    with salt.runner.RunnerClient(__opts__) as client:
        nodes = client.cmd("mine.get", ["*", "vent_node"], print_event=False) or {}
        if not nodes:
            return []
        # Ports come from the pillar the members themselves see.
        pillar = client.cmd("vent.effective_pillar", [sorted(nodes)[0]], print_event=False) or {}
    try:
        return __utils__["vent_model.etcd_cluster"](pillar["vent"], nodes)
    except ValueError as exc:
        raise salt.exceptions.CommandExecutionError(str(exc)) from exc


def _call(minion, fun, arg=(), kwarg=None, timeout=180):
    """Run one function on one minion; raise with the minion's error if it failed."""
    with salt.client.LocalClient(mopts=__opts__) as local:
        ret = local.cmd(minion, fun, list(arg), kwarg=kwarg or {}, timeout=timeout, full_return=True)
    if minion not in ret:
        raise salt.exceptions.CommandExecutionError(f"{minion} did not answer {fun}")
    out = ret[minion]
    if out.get("retcode", 0) != 0:
        raise salt.exceptions.CommandExecutionError(f"{fun} on {minion} failed: {out.get('ret')}")
    return out.get("ret")


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def etcd_snapshot(dest=None, member=None):
    """Save a snapshot of the etcd keyspace from one member to the master.

    ``dest``: a file or directory on the master (default: the master's cachedir
    ``vent/etcd-snapshots/``); ``member``: the minion to take it from (default: the
    first member). Needs ``file_recv: true`` on the master and
    ``file_recv_max_size`` (MB) above the database size. See the etcd formula's
    README for the restore procedure."""
    if not __opts__.get("file_recv"):
        raise salt.exceptions.CommandExecutionError(
            "master option file_recv is false: snapshots travel with cp.push; set "
            "file_recv: true (and file_recv_max_size above the etcd db size)"
        )
    names = [m["name"] for m in _members()]
    if not names:
        raise salt.exceptions.CommandExecutionError("mine:vent_node: no etcd member known")
    member = member or names[0]
    if member not in names:
        raise salt.exceptions.CommandExecutionError(
            f"{member} is not an etcd member (members: {', '.join(names)})"
        )
    saved = _call(member, "vent_etcd.snapshot")
    try:
        if not _call(member, "cp.push", [saved["path"]], timeout=600):
            raise salt.exceptions.CommandExecutionError(
                f"cp.push of {saved['path']} from {member} was refused; is the snapshot "
                f"({saved['size']} bytes) above file_recv_max_size?"
            )
    finally:
        _call(member, "file.remove", [saved["path"]])
    pushed = os.path.join(
        __opts__["cachedir"], "minions", member, "files", saved["path"].lstrip("/")
    )
    if dest is None:
        dest = os.path.join(__opts__["cachedir"], "vent", "etcd-snapshots")
    if os.path.isdir(dest) or dest.endswith("/"):
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        dest = os.path.join(dest, f"etcd-{member}-{stamp}.db")
    os.makedirs(os.path.dirname(os.path.abspath(dest)), mode=0o700, exist_ok=True)
    shutil.move(pushed, dest)
    os.chmod(dest, 0o600)
    digest = _sha256(dest)
    if digest != saved["sha256"]:
        raise salt.exceptions.CommandExecutionError(
            f"snapshot {dest} sha256 {digest} differs from {member}'s {saved['sha256']}"
        )
    return {"path": dest, "member": member, "size": saved["size"], "sha256": digest}


def etcd_member_add(minion):
    """Join ``minion`` to the running cluster: ``member add`` on a healthy member,
    then mark ``minion`` to start with initial-cluster-state ``existing``.

    Give the minion its roles grain and run ``salt '*' mine.update`` first; after
    this, apply the etcd state to it alone (``salt <minion> state.apply etcd``)."""
    members = _members()
    new = next((m for m in members if m["name"] == minion), None)
    if new is None:
        raise salt.exceptions.CommandExecutionError(
            f"{minion} is not an etcd member in the mine; set its roles grain and run "
            "`salt '*' mine.update` first"
        )
    others = [m["name"] for m in members if m["name"] != minion]
    errors = []
    for name in others:
        try:
            added = _call(name, "vent_etcd.member_add", [minion, new["peer_url"]])
        except salt.exceptions.CommandExecutionError as exc:
            errors.append(str(exc))
            continue
        _call(minion, "grains.setval", [__utils__["vent_model.etcd_join_grain"](), "existing"])
        return {**added, "next": f"salt {minion} state.apply etcd"}
    raise salt.exceptions.CommandExecutionError(
        f"no running member accepted {minion}: " + "; ".join(errors or ["no other member"])
    )
