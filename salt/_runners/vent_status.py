"""``salt-run vent.status`` and ``vent.public_ip``: the cluster as Salt sees it.

Nodes come from the mine (completed with the grain cache), roles and units from the
cluster model, API readiness from the one check every part of Vent uses. Missing
pieces read "missing"; anything down makes the exit code non-zero.
"""

from __future__ import annotations

import os

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


def _vent():
    return __salt__["pillar.show_pillar"]()["vent"]


def public_ip():
    """The controllers' public IPs, one ``<minion> <ip>`` line each."""
    nodes = _nodes()
    lines = [f"{m} {nodes[m].get('public_ip') or 'missing'}" for m in _model("controllers", nodes)]
    if not lines:
        return _ops("text", "no controller in the mine (run `salt-run state.orchestrate vent` first)", 1)
    return _ops("text", "\n".join(lines), 0 if all(not ln.endswith(" missing") for ln in lines) else 1)


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*[str(c) for c in r]).rstrip() for r in [header, *rows])


def _units(minion, nodes, vent):
    roles = _model("roles_of", minion, nodes, vent)
    return [u for role in ("etcd", "controller", "compute") if roles[role] for u in _model("units", role)]


def _etcd_health(members, answers):
    """{member: healthy | unhealthy | unknown} from the answers of the one live member
    asked (its error names every member failing ``endpoint health``)."""
    ok, ret = next(iter(answers.values()), (False, "no answer"))
    if ok:
        return dict.fromkeys(members, "healthy")
    failing = str(ret).partition(" failing: ")[0]
    if "member(s)" not in failing:
        return dict.fromkeys(members, "unknown")
    return {m: "unhealthy" if m in failing.split("member(s)", 1)[1].replace(",", " ").split() else "healthy"
            for m in members}


# Whole-cluster health, asked of one member: (function, arg, kwarg, timeout).
ETCD_HEALTH = ("vent_etcd.wait_healthy", [], {"timeout": 3}, 15)


def status():
    """One table of the cluster's nodes: roles, addresses, Salt reachability, services,
    etcd health, apiserver readiness and the earliest certificate expiry; below it
    each certificate's expiry. Exits non-zero when a node is unreachable or a service,
    etcd or the apiserver is not up."""
    vent = _vent()
    paths = _model("paths", vent)
    nodes = _nodes()
    if not nodes:
        return _ops("text", "no nodes: no minion has published vent_node to the mine", 1)
    ids = sorted(nodes)
    units = {m: _units(m, nodes, vent) for m in ids}
    # What every node answers, in one job a node: its services and its certificates
    # (vent_cluster.status_report); etcd's and the API servers' health asked at the
    # same time, of the first etcd member and the controllers. A node that answers is
    # up: a silent node costs that job's timeout once.
    etcd_members = _model("etcd_members", nodes)
    controllers = _model("controllers", nodes)
    res = _ops("cmd_together", {
        "nodes": (ids, "vent_cluster.status_report", [f"{paths['pki']}/*.crt"], None, 5),
        "etcd": (etcd_members[:1], *ETCD_HEALTH),
        "api": _ops("api_ready_job", controllers, _model("local_api", vent), paths["ca_cert"]),
    }, gate="nodes")
    up = [m for m in ids if m in res["nodes"]]
    live_controllers = [m for m in controllers if m in up]
    etcd_asked = [m for m in etcd_members if m in up][:1]
    if etcd_asked and etcd_asked != etcd_members[:1]:  # the first member is down: ask another
        res["etcd"] = _ops("cmd", etcd_asked, *ETCD_HEALTH)
    services = {m: {} for m in ids}
    certs = {}
    for minion in up:
        ok, report = res["nodes"][minion]
        report = report if ok and isinstance(report, dict) else {}
        if isinstance(found := report.get("units"), dict):
            services[minion] = found
        if isinstance(found := report.get("certificates"), dict):
            certs[minion] = {
                os.path.basename(path): (info or {}).get("not_after") or (info or {}).get("Not After")
                for path, info in found.items()
            }
    etcd = _etcd_health(etcd_members, res["etcd"]) if etcd_asked else {}
    api = _ops("api_verdicts", live_controllers, res["api"])

    rows, bad = [], False
    for m in ids:
        n = nodes[m]
        reach = "yes" if m in up else "NO"
        if m in up:
            down = [u for u in units[m] if not services[m].get(u)]
            svc = "all up" if units[m] and not down else ("-" if not units[m] else "down: " + ",".join(down))
        else:
            down, svc = units[m], "unknown"
        cert_dates = certs.get(m) or {}
        earliest = min(cert_dates.items(), key=lambda kv: str(kv[1]), default=None)
        etcd_col = etcd.get(m, "-" if m not in etcd_members else "missing")
        api_col = api.get(m, "-" if m not in controllers else "missing")
        bad |= m not in up or bool(down) or etcd_col not in ("-", "healthy") or api_col not in ("-", "ready")
        rows.append([
            m, ",".join(n.get("roles") or []) or "-", n.get("public_ip") or "missing",
            n.get("private_ip") or "missing", reach, svc, etcd_col, api_col,
            f"{earliest[1]} ({earliest[0]})" if earliest else "missing",
        ])
    text = _table(
        ["NODE", "ROLES", "PUBLIC IP", "PRIVATE IP", "SALT", "SERVICES", "ETCD", "APISERVER",
         "FIRST CERT EXPIRY"],
        rows,
    )
    details = [f"  {m} {name}: {date}" for m in ids for name, date in sorted((certs.get(m) or {}).items())]
    if details:
        text += "\n\ncertificates:\n" + "\n".join(details)
    return _ops("text", text, 1 if bad else 0)
