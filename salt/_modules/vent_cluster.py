"""The cluster model as Jinja and the CLI see it: ``salt['vent_cluster.<fn>']()``.

Every answer comes from the ``vent_model`` utility (salt/_utils/vent_model.py), fed
with this minion's pillar and the mine; this module adds only what needs the minion
itself (its grains and interfaces). Nothing is computed in Jinja.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import time

import salt.channel.client
import salt.modules.mine
import salt.utils.functools
import salt.utils.mine
import salt.utils.path

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs, or the modules synced from it
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


log = logging.getLogger(__name__)

__virtualname__ = "vent_cluster"


def __virtual__():
    return __virtualname__


def _model(fun, *args, **kwargs):
    return _util(f"vent_model.{fun}")(*args, **kwargs)


def settings():
    """The effective ``vent`` pillar of this minion."""
    return __pillar__["vent"]


# A minion's mine.get is a signed request to the master, and a state render asks a
# dozen times (roles, targets, API backends, the CA certificate). One answer serves the
# job: the mine changes on mine.update, which the orchestration runs in a job of its
# own. (The one inside a state, pki.ca.files, publishes the CA minion's certificate,
# which that minion reads from its pillar.) __context__ lives as long as the job's
# loader; the age bound covers minions that run jobs in threads (multiprocessing:
# False), where it outlives the job.
MINE_ANSWER_SECONDS = 30


def mine(tgt, function):
    """``mine.get(tgt, function)``, asked of the master once per job."""
    key = f"vent_cluster.mine:{tgt}:{function}"
    now = time.monotonic()
    cached = __context__.get(key)
    if cached is None or now - cached[0] > MINE_ANSWER_SECONDS:
        cached = (now, __salt__["mine.get"](tgt, function) or {})
        __context__[key] = cached
    return copy.deepcopy(cached[1])


# sha256 of salt/modules/mine.py's update and _mine_store in Salt 3008.4, whose work
# mine_update does with one change (see there).
MINE_UPDATE_SOURCE = "2ec4910bfe6d9c43f90639ff52313cfbedadd7e30c820c8e31e5ca6a40a77deb"


def mine_update():
    """``mine.update`` with its data sent to the master over this minion's request
    channel, the master's answer waited for: upstream fires the data at the minion
    daemon, which passes it on, and sleeps a fixed 0.5 s for that, half a second of
    every orchestration's refresh step. The functions are called and their data shaped
    as upstream does; with another Salt than the one this was written against, this is
    upstream's ``mine.update``. True once the master stored the data."""
    if (__opts__.get("file_client") == "local"
            or _util("vent_upstream.source_digest")(salt.modules.mine.update, salt.modules.mine._mine_store)
            != MINE_UPDATE_SOURCE):
        return __salt__["mine.update"]()
    data = {}
    for alias, definition in (__salt__["config.merge"]("mine_functions", {}) or {}).items():
        name, args, kwargs, acl = salt.utils.mine.parse_function_definition(definition)
        function = name or alias
        if function not in __salt__:
            log.error("Function %s in mine_functions not available", function)
            continue
        try:
            result = salt.utils.functools.call_function(__salt__[function], *args, **kwargs)
        except Exception:  # as upstream: one failing function leaves the others' data
            log.error("Function %s in mine.update failed to execute", function, exc_info=True)
            continue
        data[alias] = salt.utils.mine.wrap_acl_structure(result, **acl) if acl.get("allow_tgt") else result
    if not data:
        return None
    with salt.channel.client.ReqChannel.factory(__opts__) as channel:
        return channel.send({"cmd": "_mine", "data": data, "id": __opts__["id"], "clear": False})


def nodes():
    """The mine's ``vent_node`` data: minion id -> roles and addresses."""
    return mine("*", "vent_node")


def merge(base, over):
    """The model's merge rule (mappings merge, anything else is replaced)."""
    return _model("merge", base, over)


def formula(defaults, key):
    """A formula's one dict: its defaults.yaml with pillar ``vent:<key>`` merged over it
    by the model's merge rule (the same rule the pillar files follow)."""
    return _model("merge", defaults, settings().get(key) or {})


def arch(osarch=None):
    return _model("arch", osarch or __grains__.get("osarch"))


def control_plane():
    """Control-plane component key -> binary (also its unit and service user)."""
    return _util("vent_model.control_plane")()


def units(role):
    """The systemd units of a role (etcd, controller, compute)."""
    return list(_util("vent_model.units")(role))


def units_after(unit):
    """The units ``unit`` is ordered after (systemd After=) on its node."""
    return list(_util("vent_model.units_after")(unit))


def paths():
    return _model("paths", settings())


def ports():
    return _model("ports", settings())


def ready_timeout():
    return _model("ready_timeout", settings())


def targets():
    """Compound targets and minion lists per role, from the mine."""
    return _model("targets", settings(), nodes())


def master_grains():
    """The master's grain cache, ``{minion: grains}``: what the ``cache.grains`` runner
    answers for ``*``, read in place (a runner called from an orchestration's render
    is a job of its own, about 0.2 s of every run). On the master only: the
    orchestrations render there."""
    return _util("vent_ops.master_grains")(__opts__)


def orchestration(grains=None):
    """What the orchestrations target (``vent_model.orchestration``). ``grains``: the
    master's grain cache ({minion: grains}); roles are known from it as soon as a
    minion has started, before the mine is updated. Rendered by the master, whose
    worker pools bound how many nodes sign at once (``vent_model.signing_workers``;
    each key is absent where no master renders)."""
    if grains is None:
        found = nodes()
    else:
        found = {m: {"id": m, "roles": sorted((g or {}).get("roles") or [])} for m, g in grains.items()}
    shared = _model("signing_workers", __opts__.get("worker_pools"), __opts__.get("worker_threads"))
    return _model("orchestration", settings(), found, shared_workers=shared)


def container():
    """``{"in_container": bool, "kind": str}``: whether this node is a container (the
    ``virtual`` grain, or systemd-detect-virt) and which kind, for the node formula,
    whose every file asks. Detected once a job: it cannot change while the node runs."""
    if "vent_cluster.container" not in __context__:
        found = {"retcode": 1, "stdout": ""}
        if salt.utils.path.which("systemd-detect-virt"):
            found = __salt__["cmd.run_all"](["systemd-detect-virt", "--container"],
                                            python_shell=False, ignore_retcode=True)
        detected = (found.get("stdout") or "").strip()
        kind = detected if detected not in ("", "none") else __grains__.get("virtual_subtype") or "Linux"
        __context__["vent_cluster.container"] = {
            "in_container": __grains__.get("virtual") == "container" or found.get("retcode") == 0,
            "kind": kind.lower(),
        }
    return dict(__context__["vent_cluster.container"])


def roles():
    """What this minion does: ``{controller, etcd, compute, ca}`` (its own node entry
    stands in until its first mine update)."""
    me = node_info()
    return _model("roles_of", me["id"], nodes(), settings(), node=me)


# What `systemctl is-active` prints for a unit it counts as active (exit code 0).
ACTIVE_UNIT_STATES = ("active", "reloading", "refreshing")


def unit_states():
    """{unit: running} for the systemd units of this minion's roles: what vent.status
    asks every node in one job."""
    mine_roles = roles()
    wanted = [unit for role in ("etcd", "controller", "compute") if mine_roles[role]
              for unit in units(role)]
    if not wanted:
        return {}
    # One systemctl for all units: service.status runs two a unit, a second of a
    # controller's status job.
    lines = []
    if salt.utils.path.which("systemctl"):
        found = __salt__["cmd.run_all"](["systemctl", "is-active", *wanted], python_shell=False,
                                        ignore_retcode=True)
        lines = (found.get("stdout") or "").split()
    if len(lines) != len(wanted):
        return {unit: bool(__salt__["service.status"](unit)) for unit in wanted}
    return {unit: state in ACTIVE_UNIT_STATES for unit, state in zip(wanted, lines, strict=True)}


def status_report(certificates):
    """What vent.status asks every node, in one job of one function: the states of its
    roles' units (``unit_states``) and its certificates (``x509.read_certificates`` of
    the glob ``certificates``). Not a multi-function job: while one runs on a minion,
    Salt's saltutil.is_running fails on its list of functions, and with it every state
    run queued there meanwhile (docs/upstream/salt-is-running-multi-function-job.md)."""
    return {"units": unit_states(), "certificates": __salt__["x509.read_certificates"](certificates)}


def read_before_change(unit, path):
    """``unit`` runs a main process that started before ``path`` last changed, so it
    has not read the file as it is now. A change written by an earlier Salt run (the
    deploy's PKI step writes files the control plane reads) is one no ``watch`` sees."""
    try:
        changed = os.stat(path).st_mtime
    except OSError:
        return False
    out = __salt__["cmd.run"](
        ["systemctl", "show", "--property=MainPID", "--property=ExecMainStartTimestampMonotonic", unit],
        python_shell=False, ignore_retcode=True)
    props = dict(line.split("=", 1) for line in str(out).splitlines() if "=" in line)
    pid, started = props.get("MainPID", "0"), props.get("ExecMainStartTimestampMonotonic", "0")
    if not (pid.isdigit() and started.isdigit()) or int(pid) == 0 or int(started) == 0:
        return False
    # systemd stamps the start on CLOCK_MONOTONIC, which time.monotonic reads; the
    # file's mtime is wall-clock time.
    started_at = time.time() - time.monotonic() + int(started) / 1e6
    return changed > started_at


def service_ip(index):
    return _model("service_ip", settings(), index)


def api_service_ip():
    return _model("api_service_ip", settings())


def dns_ip():
    return _model("dns_ip", settings())


def local_api():
    return _model("local_api", settings())


def local_api_address():
    return _util("vent_model.local_api_address")()


def api_backends():
    """The controllers a node-local API proxy fronts (``vent_model.api_backends``)."""
    return _model("api_backends", settings(), nodes())


def artifact(component, name, osarch=None):
    """Where a release file comes from (see ``vent_model.artifact``)."""
    return _model("artifact", settings(), component, name, osarch or __grains__.get("osarch"))


def artifact_missing(component, name, installed=None):
    """Why release file ``name`` of ``component`` cannot be had on this node ('' when
    it can): the one wording every formula, the orchestration and the runners use.
    ``installed``: a path whose presence means the file is already in place."""
    import os

    art = artifact(component, name)
    downloadable = settings()["artifacts"]["allow_download"] and art["origin"] == "published"
    if downloadable or os.path.isfile(art["mirror"]) or (installed and os.path.exists(installed)):
        return ""
    why = ("a file built locally is never downloaded" if art["origin"] == "built"
           else f"vent:artifacts:allow_download is false (upstream {art['url']})")
    return (f"missing artifact {art['key']} (version {art['version']}): {art['mirror']} is not in the "
            f"mirror (vent:artifacts:mirror) and {why}; fill the mirror with `./vent artifacts fetch` "
            "(with internet access) or `./vent artifacts build` (from the Go module proxy)")


def artifacts_missing(files=None, by_minion=None):
    """``artifact_missing`` for each ``[component, file]``: the messages of those that
    cannot be had. ``by_minion`` (``{minion id: files}``) lets one job ask every node
    about its own files."""
    if by_minion is not None:
        files = by_minion.get(__opts__["id"], [])
    return [m for m in (artifact_missing(c, f) for c, f in files or []) if m]


def extension_files():
    """What this minion has synced of Vent's extension modules, ``{"<kind>/<path>":
    sha256}``: the orchestration's refresh step syncs only when it differs from the
    master's files."""
    return _util("vent_minion_sync.synced")(__opts__["extension_modules"])


def image(component):
    return _model("image", settings(), component, __grains__.get("osarch"))


def step_artifacts(step):
    return _model("step_artifacts", settings(), step)


# --- the node's identity, published to the mine -----------------------------------


def _ipv4_of_interface(pattern):
    ifaces = __grains__.get("ip4_interfaces", {})
    for name in sorted(ifaces):
        if re.fullmatch(pattern, name) and ifaces[name]:
            return ifaces[name][0]
    return None


def private_ip():
    """The node's private address: grain ``vent:private_ip`` (set at deploy from the
    Packet API), else the first IPv4 of the pillar-named interface."""
    grain = __grains__.get("vent", {}).get("private_ip")
    if grain:
        return grain
    net = settings()["network"]
    if net["private_interface"]:
        return _ipv4_of_interface(re.escape(net["private_interface"]))
    if net["private_interface_regex"]:
        return _ipv4_of_interface(net["private_interface_regex"])
    return None


def node_info():
    """What a node publishes to the mine: roles and addresses. No secrets."""
    vent = __grains__.get("vent", {})
    return {
        "id": __grains__.get("id"),
        "hostname": __grains__.get("host"),
        "roles": sorted(__grains__.get("roles", [])),
        "private_ip": private_ip(),
        "public_ip": vent.get("public_ip"),
        "arch": arch(),
    }
