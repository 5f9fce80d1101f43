"""Day-2 etcd commands: ``salt-run vent.etcd_snapshot`` and ``salt-run vent.etcd_member_add``.

The members and their URLs come from the ``vent_etcd`` execution module over the
mine, as on the nodes; the commands run on a member through the local client.
"""

from __future__ import annotations

import base64
import os
import shutil
import time

import salt.client
import salt.exceptions
import salt.runner
import salt.utils.hashutils

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs, or the modules synced from it
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


__virtualname__ = "vent"

def __virtual__():
    _util("vent_ops.quiet_cli_leaks")()
    return __virtualname__


def _members():
    with salt.runner.RunnerClient(__opts__) as client:
        nodes = client.cmd("mine.get", ["*", "vent_node"], print_event=False) or {}
        if not nodes:
            return []
        # Ports come from the pillar the members themselves see.
        pillar = client.cmd("vent.effective_pillar", [sorted(nodes)[0]], print_event=False) or {}
    try:
        return _util("vent_model.etcd_cluster")(pillar["vent"], nodes)
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
    digest = salt.utils.hashutils.get_hash(dest)
    if digest != saved["sha256"]:
        raise salt.exceptions.CommandExecutionError(
            f"snapshot {dest} sha256 {digest} differs from {member}'s {saved['sha256']}"
        )
    # Beside the snapshot, in sha256sum's format: what vent.etcd_restore checks.
    with open(f"{dest}.sha256", "w", encoding="utf-8") as fh:
        fh.write(f"{digest}  {os.path.basename(dest)}\n")
    return {"path": dest, "member": member, "size": saved["size"], "sha256": digest}


RESTORE_PATH = "/var/lib/vent/etcd-restore.db"
CHUNK = 1 << 20


def _expected_sha256(snapshot, checksum):
    if checksum:
        return checksum
    side = f"{snapshot}.sha256"
    if not os.path.isfile(side):
        raise salt.exceptions.CommandExecutionError(
            f"no checksum for {snapshot}: neither checksum=<sha256> nor {side} (vent.etcd_snapshot "
            "writes it); refusing to restore an unverified file")
    with open(side, encoding="utf-8") as fh:
        return fh.read().split()[0]


def _push(minion, path, dest):
    """Copy a master file to a minion in chunks (as salt-cp does)."""
    with open(path, "rb") as fh:
        first = True
        while True:
            chunk = fh.read(CHUNK)
            if not chunk and not first:
                break
            _call(minion, "cp.recv_chunked", [dest, base64.b64encode(chunk).decode()],
                  {"append": not first, "compressed": False, "mode": 0o600}, timeout=120)
            first = False
            if not chunk:
                break


def _cmd_all(minions, fun, arg=(), timeout=180):
    """One call on several minions at once; raise naming every one that failed."""
    with salt.client.LocalClient(mopts=__opts__) as local:
        ret = local.cmd(list(minions), fun, list(arg), tgt_type="list", timeout=timeout, full_return=True)
    bad = {m: (ret.get(m) or {}).get("ret", "no answer") for m in minions
           if m not in ret or ret[m].get("retcode", 0) != 0}
    if bad:
        raise salt.exceptions.CommandExecutionError(
            f"{fun} failed on " + "; ".join(f"{m}: {why}" for m, why in sorted(bad.items())))
    return {m: ret[m]["ret"] for m in minions}


def etcd_restore(snapshot, checksum=None):
    """Rebuild the etcd cluster from ``snapshot`` (a file on the master, e.g. from
    ``vent.etcd_snapshot``), on the etcd members the mine lists, with the
    certificates they have.

    Refuses before changing anything when the file is missing or its sha256 differs
    from ``checksum`` (default: ``<snapshot>.sha256``). Stops every API server so
    nothing writes meanwhile, restores each member (its old data moved aside, never
    deleted), starts all members together, waits for health, starts the API servers
    and waits for their readiness."""
    if not os.path.isfile(snapshot):
        raise salt.exceptions.CommandExecutionError(f"snapshot {snapshot} does not exist on the master")
    want = _expected_sha256(snapshot, checksum)
    got = salt.utils.hashutils.get_hash(snapshot)
    if got != want:
        raise salt.exceptions.CommandExecutionError(
            f"snapshot {snapshot} has sha256 {got}, expected {want}: "
            "corrupt or another file; nothing changed")
    with salt.runner.RunnerClient(__opts__) as client:
        nodes = client.cmd("mine.get", ["*", "vent_node"], print_event=False) or {}
        vent = (client.cmd("vent.effective_pillar", [sorted(nodes)[0]], print_event=False) or {})["vent"]
    names = [m["name"] for m in _members()]
    controllers = _util("vent_model.controllers")(nodes)
    report = []
    _cmd_all(controllers, "service.stop", ["kube-apiserver"])
    report.append(f"stopped kube-apiserver on {', '.join(controllers)}")
    for name in names:
        _push(name, snapshot, RESTORE_PATH)
    restored = {}
    for name in names:
        try:
            restored[name] = _call(name, "vent_etcd.restore", [RESTORE_PATH, want], timeout=600)
        except salt.exceptions.CommandExecutionError as exc:
            # Starting anything now would mix restored and old members: say where it stands.
            raise salt.exceptions.CommandExecutionError(
                f"{exc}. kube-apiserver is stopped on {', '.join(controllers)}; members restored "
                f"so far (etcd stopped): {', '.join(restored) or 'none'}; every member's old data "
                "is kept; run the restore again once the cause is fixed") from exc
        report.append(f"restored {name} (old data at {restored[name]['aside']})")
    _cmd_all(names, "service.start", ["etcd"], timeout=180)
    _call(names[0], "vent_etcd.wait_healthy", timeout=300)
    report.append(f"etcd healthy on {', '.join(names)}")
    _cmd_all(names, "file.remove", [RESTORE_PATH])
    _cmd_all(controllers, "service.start", ["kube-apiserver"])
    paths = _util("vent_model.paths")(vent)
    local = _util("vent_model.local_api")(vent)
    ready = _cmd_all(controllers, "vent_k8s.wait_healthy", [local, paths["ca_cert"]], timeout=300)
    down = [m for m, r in ready.items() if not r.get("ok")]
    if down:
        raise salt.exceptions.CommandExecutionError(f"API not ready after the restore on {', '.join(down)}")
    report.append(f"API ready on {', '.join(controllers)}")
    return {"snapshot": snapshot, "sha256": want, "members": restored, "steps": report}


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
        _call(minion, "grains.setval", [_util("vent_model.etcd_join_grain")(), "existing"])
        return {**added, "next": f"salt {minion} state.apply etcd"}
    raise salt.exceptions.CommandExecutionError(
        f"no running member accepted {minion}: " + "; ".join(errors or ["no other member"])
    )
