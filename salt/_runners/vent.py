"""Operator commands: ``salt-run vent.<name>``.

The checks and derived values live in the ``vent`` execution module
(salt/_modules/vent.py); runners gather the master-side inputs (the effective
pillar, the mine) and call it, so the orchestration and the operator see one truth.
"""

from __future__ import annotations

from pathlib import Path

import salt.cache
import salt.exceptions
import salt.loader
import salt.pillar
import salt.runner
import salt.utils.dictupdate
import salt.utils.yaml

__virtualname__ = "vent"


def __virtual__():
    return __virtualname__


def _mods():
    return salt.loader.minion_mods(__opts__)  # noqa: F821


def _pillar_roots():
    return [Path(p) for p in __opts__["pillar_roots"]["base"]]  # noqa: F821


def _schema():
    """The tracked defaults: the set of known keys for the typo check."""
    merged = {}
    for name in ("defaults.sls", "artifacts.sls"):
        for root in _pillar_roots():
            path = root / "vent" / name
            if path.exists():
                data = salt.utils.yaml.safe_load(path.read_text()) or {}
                salt.utils.dictupdate.update(merged, data.get("vent", {}))
    return merged


def nodes():
    """The mine's ``vent_node`` data: minion id -> roles and addresses."""
    with salt.runner.RunnerClient(__opts__) as client:  # noqa: F821
        return client.cmd("mine.get", ["*", "vent_node"], print_event=False) or {}


def effective_pillar(minion_id=None):
    """The pillar the cluster settings come from, compiled as the master would for
    ``minion_id`` (default: the CA minion as named in the defaults)."""
    grains = {}
    if minion_id is None:
        minion_id = _schema().get("pki", {}).get("ca_minion", "vent-validate")
    cache = salt.cache.factory(__opts__)  # noqa: F821
    grains = cache.fetch(f"minions/{minion_id}", "data") or {}
    grains = grains.get("grains", {}) if isinstance(grains, dict) else {}
    pillar = salt.pillar.get_pillar(
        __opts__, grains, minion_id, saltenv="base"  # noqa: F821
    ).compile_pillar()
    return pillar


def check(minion_id=None):
    """Return the validation result as data (no exit code); used by orchestration."""
    pillar = effective_pillar(minion_id)
    result = _mods()["vent.check"](pillar.get("vent", {}), nodes(), _schema())
    for err in pillar.get("_errors", []):
        result["errors"].insert(0, f"pillar: {err}")
    return result


def validate(minion_id=None):
    """Validate the effective pillar and the nodes' networks.

    Prints one line per problem, each naming the pillar key at fault, and exits
    non-zero when there is any; a valid pillar prints a short summary.
    """
    result = check(minion_id)
    lines = [f"WARNING {w}" for w in result["warnings"]]
    if result["errors"]:
        lines = [f"ERROR {e}" for e in result["errors"]] + lines
        return _text("\n".join(lines), retcode=1)
    s = result["summary"]
    lines.append(
        "vent pillar valid: "
        f"cluster_cidr={s['cluster_cidr']} service_cidr={s['service_cidr']} "
        f"dns_ip={s['dns_ip']} controllers={','.join(s['controllers']) or '-'} "
        f"workers={','.join(s['workers']) or '-'} etcd={','.join(s['etcd']) or '-'}"
    )
    return _text("\n".join(lines))


def _text(text, retcode=0):
    """Plain-text output with an exit code: salt-run exits with ``retcode``."""
    return {"outputter": "vent_text", "data": text, "retcode": retcode}
