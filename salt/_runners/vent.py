"""Validation for operators and the orchestration: ``salt-run vent.validate`` and
``vent.validation``.

The rules live in the ``vent_validation`` utility and the role rules in the cluster
model; this runner gathers the master-side inputs (the effective pillar, the mine)
so the orchestration and the operator see one truth.
"""

from __future__ import annotations

import re
from pathlib import Path

import salt.cache
import salt.fileserver
import salt.pillar

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


def _pillar_roots():
    return [Path(p) for p in __opts__["pillar_roots"]["base"]]


def schema():
    """The tracked defaults and pins: the known keys for the typo check."""
    return _util("vent_model.load")(_pillar_roots(), site=False)


def nodes():
    """The mine's ``vent_node`` data: minion id -> roles and addresses."""
    return _util("vent_ops.mine_nodes")(__opts__)


def effective_pillar(minion_id=None):
    """The pillar the cluster settings come from, compiled as the master would for
    ``minion_id`` (default: the CA minion as the tracked defaults name it)."""
    if minion_id is None:
        minion_id = _util("vent_model.ca_minion")(schema())
    # The grains the minion last sent with a pillar request (minion_data_cache); none
    # before it first did.
    grains = salt.cache.factory(__opts__).fetch("grains", minion_id) or {}
    return salt.pillar.get_pillar(__opts__, grains, minion_id, saltenv="base").compile_pillar()


def formula_rules():
    """What each formula accepts (its ``schema.yaml`` beside ``defaults.yaml``), read
    through the master's file server: file_roots and gitfs alike."""
    fs = salt.fileserver.Fileserver(__opts__)

    def read(path):
        found = fs.find_file(path, "base")
        if not found.get("path"):
            return None
        with open(found["path"], encoding="utf-8") as fh:
            return fh.read()

    return _util("vent_validation.rules_from_files")(read, fs.file_list({"saltenv": "base"}))


def _located(err):
    """Salt says only "Rendering SLS 'x' failed"; for a YAML error, say where."""
    m = re.search(r"Rendering SLS '([^']+)' failed", str(err))
    if m:
        rel = m.group(1).replace(".", "/")
        for root in _pillar_roots():
            for path in (root / f"{rel}.sls", root / rel / "init.sls"):
                if path.is_file():
                    return _util("vent_validation.yaml_error_at")(
                        path, path.read_text(encoding="utf-8")) or err
    return err


def validation(minion_id=None):
    """The validation result as data (no exit code): what the orchestration's validate
    step reads."""
    pillar = effective_pillar(minion_id)
    vent, found = pillar.get("vent") or {}, nodes()
    controllers = _util("vent_model.controllers")(found)
    if not (vent.get("encryption") or {}).get("key") and controllers:
        # pillar/top.sls gives the encryption key to controllers alone: check the
        # one a controller gets, whatever minion the rest was compiled for.
        theirs = (effective_pillar(controllers[0]).get("vent") or {}).get("encryption") or {}
        vent = _util("vent_model.merge")(vent, {"encryption": theirs})
    result = _util("vent_validation.problems")(vent, found, schema(), formula_rules())
    top = _util("vent_validation.top_level_problems")(k for k in pillar if not k.startswith("_"))
    top += _util("vent_validation.ca_peer_run_problems")(
        _util("vent_model.ca_minion")(vent), __opts__.get("peer_run"))
    for err in reversed([*(f"pillar: {_located(e)}" for e in pillar.get("_errors", [])), *top]):
        result["errors"].insert(0, err)
    result["warnings"] += _util("vent_validation.peer_warnings")(__opts__.get("peer"))
    result["warnings"] += _util("vent_validation.worker_pool_warnings")(
        __opts__.get("worker_pools"), __opts__.get("worker_threads"))
    return result


def validate(minion_id=None):
    """Validate the effective pillar and the nodes' networks.

    Prints one line per problem, each naming the pillar key at fault, and exits
    non-zero when there is any; a valid pillar prints a short summary.
    """
    result = validation(minion_id)
    lines = [f"WARNING {w}" for w in result["warnings"]]
    if result["errors"]:
        lines = [f"ERROR {e}" for e in result["errors"]] + lines
        return _util("vent_ops.text")("\n".join(lines), 1)
    s = result["summary"]
    lines.append(
        "vent pillar valid: "
        f"cluster_cidr={s['cluster_cidr']} service_cidr={s['service_cidr']} "
        f"dns_ip={s['dns_ip']} controllers={','.join(s['controllers']) or '-'} "
        f"workers={','.join(s['workers']) or '-'} etcd={','.join(s['etcd']) or '-'}"
    )
    return _util("vent_ops.text")("\n".join(lines))
