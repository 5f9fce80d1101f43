"""``salt-run vent.remove_node``: a node leaves the cluster, in the reverse order of
the deploy (drain and delete its Node, clean its formulas, delete its key, optionally
destroy the machine)."""

from __future__ import annotations

import json
import os

import salt.wheel
from salt.exceptions import CommandExecutionError

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


def _ops(fun, *args, **kwargs):
    return _util(f"vent_ops.{fun}")(*args, **kwargs)


def _model(fun, *args, **kwargs):
    return _util(f"vent_model.{fun}")(*args, **kwargs)


def _nodes():
    return _ops("cluster_nodes", __opts__)


def _sync_vent_modules(minion_id, lines, timeout):
    """The clean states render with Vent's modules, which a machine that joined but
    never went through the orchestration's refresh step does not have yet."""
    funs, args = _util("vent_minion_sync.job")()
    ok, ret = _ops("cmd", [minion_id], funs, args, timeout=int(timeout)).get(
        minion_id, (False, "no answer"))
    if not ok:
        lines.append(f"FAILED module sync (skip clean): {str(ret)[:300]}")
    return ok


def _clean(minion_id, roles, lines, timeout):
    """Each formula's clean state, in the model's clean order; False when one failed."""
    ok_all = True
    for role, formulas in _model("clean_order"):
        if role != "all" and not roles[role]:
            continue
        for formula in formulas:
            res = _ops("cmd", [minion_id], "state.apply", [f"{formula}.clean"], timeout=int(timeout))
            ok, ret = res.get(minion_id, (False, "no answer"))
            lines.append(f"ok {formula}.clean" if ok else f"FAILED {formula}.clean: {str(ret)[:300]}")
            ok_all &= ok
    return ok_all


def _forget_controller(minion_id, nodes, vent, lines, timeout):
    """The other nodes' API proxies drop the controller that left (a reload; the
    mine no longer lists it once its key is gone)."""
    others = [m for m in _model("compute", nodes, vent) if m != minion_id]
    if not others:
        return 0
    res = _ops("cmd", others, "state.apply", ["apiproxy"], timeout=int(timeout))
    failed = sorted(m for m in others if not res.get(m, (False, None))[0])
    lines.append(f"FAILED apiproxy on {', '.join(failed)}" if failed
                 else f"ok apiproxy without {minion_id} on {', '.join(others)}")
    return 1 if failed else 0


def remove_node(minion_id, destroy=False, timeout=120):
    """Take ``minion_id`` out of the cluster: drain and delete its Node object when the
    API is up, apply each of its formulas' ``clean`` states, delete its minion key, and
    with ``destroy=True`` destroy the machine with salt-cloud (``salt-cloud -d``).
    etcd members are not removed from the etcd cluster here (see vent.etcd_* runners)."""
    vent = __salt__["pillar.show_pillar"]()["vent"]
    nodes = _nodes()
    if minion_id not in nodes:
        return _ops("text", f"{minion_id}: unknown minion (not in the mine nor the grain cache)", 1)
    roles = _model("roles_of", minion_id, nodes, vent)
    paths = _model("paths", vent)
    lines, rc = [], 0
    ca = _model("ca_minion", vent)
    hostname = nodes[minion_id].get("hostname") or minion_id
    k = _ops("kubectl", ca, paths, timeout=int(timeout))
    ready = _ops("api_ready", [ca], _model("local_api", vent), paths["ca_cert"]).get(ca)
    reachable = _ops("cmd", [minion_id], "test.ping", timeout=5).get(minion_id, (False, None))[1] is True
    if ready != "ready":
        lines.append(f"skip drain: API not reachable through {ca}: {ready}")
    elif roles["compute"]:
        try:
            registered = k.run(["get", "node", hostname, "--ignore-not-found", "-o", "name"]).strip()
            if not registered:
                lines.append(f"ok no node {hostname} (it never registered)")
            elif reachable:
                k.run(["drain", hostname, "--ignore-daemonsets", "--delete-emptydir-data",
                       f"--timeout={int(timeout)}s"], timeout=int(timeout) + 10)
            else:
                # A machine that is gone cannot confirm evictions: a drain would wait
                # out its timeout. Without the Node, the pod garbage collector deletes
                # its pods and their controllers recreate them elsewhere.
                lines.append(f"skip drain: {minion_id} does not answer")
            if registered:
                k.run(["delete", "node", hostname, "--ignore-not-found"])
                lines.append(f"ok {'drained and ' if reachable else ''}deleted node {hostname}")
        except CommandExecutionError as exc:
            lines.append(f"FAILED drain/delete node {hostname}: {exc}")
            rc = 1
    if not reachable:
        lines.append(f"skip clean: {minion_id} does not answer")
    elif not _sync_vent_modules(minion_id, lines, timeout) or not _clean(minion_id, roles, lines, timeout):
        rc = 1
    if destroy:
        # Bound under another name: a plain `import salt.cloud` here would make `salt`
        # local to the function and break the key deletion below.
        import salt.cloud as salt_cloud

        cloud = salt_cloud.CloudClient(path=os.path.join(os.path.dirname(__opts__["conf_file"]), "cloud"))
        ret = cloud.destroy([minion_id])
        lines.append(f"salt-cloud -d {minion_id}: {json.dumps(ret, default=str)[:300]}")
    wheel = salt.wheel.WheelClient(__opts__)
    # print_event=False: its "{}" would land on the operator's screen above the report.
    wheel.cmd("key.delete", [minion_id], print_event=False)
    lines.append(f"ok deleted minion key {minion_id}")
    if roles["controller"]:
        rc |= _forget_controller(minion_id, nodes, vent, lines, timeout)
    if not destroy:
        lines.append(f"machine kept; `salt-run vent.remove_node {minion_id} destroy=True` destroys it")
    return _ops("text", "\n".join(lines), rc)
