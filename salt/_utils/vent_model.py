"""The cluster model: the one place that answers who does what, where files live,
which ports and units exist, and where a release file comes from.

Everything here is a pure function of ``vent`` (the complete ``vent`` pillar: the
tracked defaults with site overrides merged, as the master compiles it) and ``nodes``
(minion id -> the ``vent_node`` mine entry: ``{id, hostname, roles, private_ip,
public_ip, arch}``). Nothing reads pillar with a fallback literal: the defaults live in
``pillar/vent/defaults.sls`` alone, and ``load`` merges them the one way.

Salt reaches this module as ``__utils__["vent_model.<fn>"]`` (execution modules, states,
runners); the ``vent_cluster`` execution module is its face for Jinja. ``ventlab`` and
the tests import the file directly.
"""

from __future__ import annotations

import copy
import ipaddress
import os
from pathlib import Path

import yaml

# The tracked pillar files every settings dict starts from, in merge order.
TRACKED = ("vent/defaults.sls", "vent/artifacts.sls")
# The operator's overrides, merged last (git-ignored; see pillar/site.sls.example).
SITE = "site.sls"

ROLES = ("controller", "worker", "etcd")
ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}
LOCAL_API = "127.0.0.1"

# Control-plane components: pillar/flag key, binary (also unit and service user).
CONTROL_PLANE = {
    "apiserver": "kube-apiserver",
    "controller_manager": "kube-controller-manager",
    "scheduler": "kube-scheduler",
}
# The systemd units each role runs, in the order they are started.
UNITS = {
    "etcd": ("etcd",),
    "controller": tuple(CONTROL_PLANE.values()),
    "compute": ("containerd", "kubelet", "kube-proxy"),
}
# Service users the PKI formula creates, by the role whose daemons run as them; kubelet
# and kube-proxy run as root (upstream needs it).
ROLE_USERS = {"etcd": ("etcd",), "controller": tuple(CONTROL_PLANE.values())}
SERVICE_USERS = tuple(user for users in ROLE_USERS.values() for user in users)
# Formulas in the order a node is taken apart: the reverse of the deploy.
CLEAN_ORDER = (
    ("compute", ("flannel", "kube_proxy", "kubelet", "containerd", "apiproxy", "cni", "node")),
    ("controller", ("controlplane",)),
    ("etcd", ("etcd",)),
    ("all", ("pki",)),
)
# The phases of `salt-run state.orchestrate vent`, in deploy order; vent:orchestrate:
# stop_after names one of them. Two run beside the phases after them and come first
# so that they start first: the runtime beside etcd and the control plane, the status
# table beside flannel and the add-ons.
PHASES = ("refresh", "validate", "pki", "runtime", "etcd", "controlplane", "workers",
          "status", "flannel", "addons")
# Release files each step installs: [component, file]. Runtimes that a node may take
# from Debian instead (vent:<component>:install: package) are listed by component. The
# runtime step also installs flannel's node side (its CNI plugin).
STEP_ARTIFACTS = {
    "etcd": (("etcd", "etcd"),),
    "runtime": (("containerd", "containerd"), ("runc", "runc"), ("cni_plugins", "cni-plugins"),
                ("crictl", "crictl"), ("flannel_cni_plugin", "cni-plugins")),
    "controlplane": tuple(("kubernetes", b) for b in (*CONTROL_PLANE.values(), "kubectl")),
    "workers": (("kubernetes", "kubelet"), ("kubernetes", "kube-proxy")),
    "gvisor": (("gvisor", "runsc"), ("gvisor", "containerd-shim-runsc-v1")),
}
# The deploy steps that install release files, and the minions (a key of `targets`)
# each one runs on.
INSTALLING_STEPS = {"runtime": "compute_ids", "etcd": "etcd_ids", "controlplane": "controller_ids",
                    "workers": "compute_ids"}
# A runtime component that may come from Debian: the pillar key that says so.
PACKAGED = {"etcd": "etcd", "containerd": "containerd", "runc": "runc", "cni_plugins": "cni"}

# Grain the `vent.etcd_member_add` runner sets on a node it added to a running
# cluster: that node's etcd must start with initial-cluster-state `existing`.
ETCD_JOIN_GRAIN = "vent_etcd_initial_cluster_state"

# The lab's networks: public addresses (the one routed range) and the private network,
# both inside the ranges tests may use (198.18.0.0/15, 100.64.0.0/10) and outside the
# default service and cluster CIDRs.
LAB = {"bridge": "vent-lab0", "public": "198.18.0.0/24", "private": "100.72.0.0/24",
       "allowed": ("198.18.0.0/15", "100.64.0.0/10")}


def control_plane() -> dict:
    """Control-plane component key (as in vent:kubernetes:<key>_flags) -> binary, which
    is also its unit and service user."""
    return dict(CONTROL_PLANE)


def units(role: str) -> tuple[str, ...]:
    """The systemd units of ``role`` (etcd, controller, compute), in start order."""
    return UNITS[role]


def units_after(unit: str) -> tuple[str, ...]:
    """The units ``unit`` starts after on a node that runs them, and so stops before at
    shutdown: etcd, then the control plane in its start order. (Stopped together, the
    API server waited on the etcd that was going away and held a controller's shutdown
    past 20 s.)"""
    chain = UNITS["etcd"] + UNITS["controller"]
    return chain[:chain.index(unit)] if unit in chain else ()


def service_users(roles: dict | None = None) -> tuple[str, ...]:
    """The service users of a node with ``roles`` (``roles_of``'s answer): etcd's on an
    etcd member, the control plane's on a controller; a worker runs none of them. All
    of them without ``roles``: what a clean removes, whatever the node was."""
    if roles is None:
        return SERVICE_USERS
    return tuple(user for role, users in ROLE_USERS.items() if roles.get(role) for user in users)


def clean_order() -> tuple:
    return CLEAN_ORDER


def etcd_join_grain() -> str:
    return ETCD_JOIN_GRAIN


def local_api_address() -> str:
    return LOCAL_API


def lab_network() -> dict:
    return dict(LAB)


# --- loading settings -------------------------------------------------------------


def merge(base: dict, over: dict) -> dict:
    """The one merge rule of Vent's pillar: mappings merge key by key, anything else
    (lists included) is replaced. Returns a new dict; neither input changes."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# libyaml's parser where PyYAML was built with it (its wheels are): the same documents
# as yaml.safe_load, about ten times faster. The pure-Python parser took 69 ms of each
# validation for the tracked pillar and the formulas' schemas, on the run's path.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str):
    """``yaml.safe_load``'s result for ``text``."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)


def load_yaml_all(text: str) -> list:
    """``yaml.safe_load_all``'s documents of ``text``."""
    return list(yaml.load_all(text, Loader=_SAFE_LOADER))  # noqa: S506 (a safe loader)


def read_sls(path: Path) -> dict:
    """A tracked pillar file (plain YAML): its ``vent`` mapping."""
    data = load_yaml(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a mapping")
    return data.get("vent") or {}


def load(pillar_roots, site: bool = True, overrides: dict | None = None) -> dict:
    """The settings as the master compiles them: tracked defaults, then the site file,
    then ``overrides``. ``pillar_roots``: directories searched in order (the first one
    holding a file wins, as Salt's pillar_roots do)."""
    roots = [Path(r) for r in ([pillar_roots] if isinstance(pillar_roots, (str, os.PathLike))
                               else pillar_roots)]
    vent: dict = {}
    for name in (*TRACKED, *((SITE,) if site else ())):
        for root in roots:
            if (root / name).exists():
                vent = merge(vent, read_sls(root / name))
                break
    return merge(vent, overrides or {})


# --- roles -------------------------------------------------------------------------


def role_names() -> tuple[str, ...]:
    """The roles a node's ``roles`` grain may hold."""
    return ROLES


def _with_role(nodes: dict, role: str) -> list[str]:
    return sorted(m for m, n in (nodes or {}).items() if role in ((n or {}).get("roles") or []))


def controllers(nodes: dict) -> list[str]:
    return _with_role(nodes, "controller")


def workers(nodes: dict) -> list[str]:
    return _with_role(nodes, "worker")


def dedicated_etcd(nodes: dict) -> bool:
    """Some node has the etcd role: etcd runs on those nodes and nowhere else."""
    return bool(_with_role(nodes, "etcd"))


def etcd_members(nodes: dict) -> list[str]:
    """Nodes with the etcd role; without any, the controllers."""
    return _with_role(nodes, "etcd") or controllers(nodes)


def schedulable(vent: dict) -> bool:
    return bool(vent["roles"]["controllers_schedulable"])


def compute(nodes: dict, vent: dict) -> list[str]:
    """Nodes that run the kubelet stack: workers, plus controllers when they accept pods."""
    ids = set(workers(nodes))
    if schedulable(vent):
        ids |= set(controllers(nodes))
    return sorted(ids)


def ca_minion(vent: dict) -> str:
    return vent["pki"]["ca_minion"]


def roles_of(minion: str, nodes: dict, vent: dict, node: dict | None = None) -> dict:
    """What ``minion`` does: ``{controller, etcd, compute, ca}`` as booleans. ``node``
    stands in for the minion's own mine entry before its first mine update."""
    node = node if node is not None else (nodes or {}).get(minion) or {}
    roles = set(node.get("roles") or [])
    controller = "controller" in roles
    return {
        "controller": controller,
        "etcd": "etcd" in roles or (controller and not dedicated_etcd(nodes)),
        "compute": "worker" in roles or (controller and schedulable(vent)),
        "ca": minion == ca_minion(vent),
    }


def _role_target(*roles: str) -> str:
    """The compound target of the nodes with any of ``roles`` (the ``roles`` grain)."""
    return " or ".join(f"G@roles:{role}" for role in roles)


def targets(vent: dict, nodes: dict) -> dict:
    """Compound targets and minion lists for each role, for the orchestrations and the
    highstate top."""
    dedicated = dedicated_etcd(nodes)
    ca = ca_minion(vent)
    return {
        "all": _role_target("controller", "worker", "etcd"),
        "controllers": _role_target("controller"),
        "etcd": _role_target("etcd" if dedicated else "controller"),
        "compute": _role_target("worker", "controller") if schedulable(vent) else _role_target("worker"),
        "ca": f"L@{ca}",
        "ca_id": ca,
        "etcd_dedicated": dedicated,
        "controller_ids": controllers(nodes),
        "etcd_ids": etcd_members(nodes),
        "compute_ids": compute(nodes, vent),
    }


def certificate_holders(ca: str) -> dict:
    """Which minions may ask the CA minion (``ca``) for each group of certificates:
    compound targets for x509_v2's ``minions``, which the master checks against its
    grain cache when a request comes, so a node added later needs no new pillar on the
    CA. Each group is as wide as the role rules above can make it, because the CA's
    pillar cannot see the settings that narrow them: an etcd member is a node with role
    etcd or a controller (``etcd_members``), a kubelet node a worker or a controller
    (``compute``). ``ca``: what only the CA minion itself signs."""
    return {
        "controller": _role_target("controller"),
        "etcd": _role_target("etcd", "controller"),
        "node": _role_target("worker", "controller"),
        "ca": f"L@{ca}",
    }


def phases(vent: dict) -> list[str]:
    """The deploy phases to run: all, or up to vent:orchestrate:stop_after."""
    stop = vent["orchestrate"]["stop_after"]
    if stop is None:
        return list(PHASES)
    if stop not in PHASES:
        raise ValueError(f"vent:orchestrate:stop_after: {stop} is not a step; use one of {', '.join(PHASES)}")
    return list(PHASES[: PHASES.index(stop) + 1])


# A phase whose step is the next phase's own when both run on the same minions: one
# Salt job a node instead of two, each about 0.7 s of a run that changes nothing. etcd
# joins the control plane unless it has members of its own: its formula ends with the
# whole cluster's health, so no API server starts before every member answers.
# flannel's DaemonSet joins the add-ons: both are applied from the CA minion (the
# DaemonSet may already be in place, see LEADS; this waits for its rollout).
JOINED = {"etcd": "controlplane", "flannel": "addons"}
PHASE_MINIONS = {"etcd": "etcd_ids", "controlplane": "controller_ids", "flannel": "ca_id", "addons": "ca_id"}
# Each node's certificates come first in the step of its role, not in a step of their
# own that every node waits for: a node needs only its own certificates and the CA's.
PKI_JOINS = ("runtime", "etcd", "controlplane")
# The formulas of a phase that joins another's step.
JOINED_SLS = {"pki": "pki", "etcd": "etcd", "flannel": "flannel.cluster.applied"}
# A phase whose formulas end the step of an earlier phase: the kubelet nodes' own
# (apiproxy, kubelet, kube-proxy) end the runtime's, one job a node instead of two,
# when those nodes run no step beside it (etcd, the control plane), where the node
# stack would start before its API server and hold that node's turn for it. They no
# longer wait for the control plane's step, only for its API: the kubelet starts once
# the API answers through the node's own endpoint (kubelet.service.running). A gate
# first (vent.node.runtime_ready) ends a node's run where its runtime failed, as the
# runtime's own step did.
FOLLOWS = {"workers": "runtime"}
# The workers phase's formulas, in its own step or at the end of the runtime's.
# kube-proxy's binary and config come before the kubelet's formula, whose start waits
# for the API (kubelet.service.running): they need no API, so a node downloads and
# checks that release file while its API server starts instead of after it.
WORKERS_SLS = ("apiproxy", "kube_proxy.package.install", "kube_proxy.config.file", "kubelet", "kube_proxy")
FOLLOWS_SLS = {"workers": ["vent.node.runtime_ready", *WORKERS_SLS]}
BESIDE_RUNTIME = ("etcd_ids", "controller_ids")
# Cluster objects that end an earlier step than the phase's own, when both run on the
# same minions: flannel's DaemonSet at the end of the control plane's step, so its pods
# start as the nodes register (once kube-controller-manager runs its controllers),
# instead of once every node's step and the next have ended (its rollout had taken
# 3.5-5.6 s of the add-ons' step). The phase's own formulas (in its step, or the step
# it joins) still wait for the rollout.
LEADS = {"flannel": "controlplane"}
LEADS_SLS = {"flannel": ["flannel.cluster.manifest"]}


def phase_minions(tgt: dict, phase: str) -> set[str]:
    """The minions whose step applies ``phase`` (``tgt``: ``targets``)."""
    ids = tgt[PHASE_MINIONS[phase]]
    return {ids} if isinstance(ids, str) else set(ids)


def one_step_can_apply(tgt: dict, phases: list[str], a: str, b: str) -> bool:
    """Phases ``a`` and ``b`` both run (``phases``) on the same minions (``tgt``), so
    one of their steps can apply the other's formulas (``JOINED``, ``LEADS``)."""
    return a in phases and b in phases and phase_minions(tgt, a) == phase_minions(tgt, b)


def joined_phases(tgt: dict, phases: list[str], signing_batch: int | None) -> dict[str, list[str]]:
    """``{phase: the phases whose steps apply it too}``: the pairs of ``JOINED`` that
    both run (``phases``) on the same minions (``tgt``: ``targets``); and the PKI of
    every node when every role's step runs and all nodes may sign at once
    (``signing_batch`` None), so the steps need no batches of their own for it."""
    joined = {first: [then] for first, then in JOINED.items() if one_step_can_apply(tgt, phases, first, then)}
    if signing_batch is None and all(p in phases for p in PKI_JOINS):
        joined["pki"] = list(PKI_JOINS)
    beside = {m for key in BESIDE_RUNTIME for m in tgt[key]}
    joined.update({later: [earlier] for later, earlier in FOLLOWS.items()
                   if later in phases and earlier in phases and not beside & set(tgt["compute_ids"])})
    return joined


def joined_sls(joined: dict[str, list[str]]) -> dict[str, list[str]]:
    """``{phase: the formulas its step applies first}``, those of the phases joined to
    it (``joined``: ``joined_phases``) in phase order."""
    out: dict[str, list[str]] = {}
    for first in (p for p in PHASES if p in joined and p not in FOLLOWS):
        for then in joined[first]:
            out.setdefault(then, []).append(JOINED_SLS[first])
    return out


def followed_sls(joined: dict[str, list[str]], tgt: dict, phases: list[str]) -> dict[str, list[str]]:
    """``{phase: the formulas its step applies last}``: those of the later phases
    ``joined_phases`` joined to it (``FOLLOWS``), then the objects later phases apply
    early in it (``LEADS``, where ``one_step_can_apply``)."""
    out = {earlier: list(FOLLOWS_SLS[later]) for later, earlier in FOLLOWS.items() if later in joined}
    for later, earlier in LEADS.items():
        if one_step_can_apply(tgt, phases, later, earlier):
            out.setdefault(earlier, []).extend(LEADS_SLS[later])
    return out


# A remote signing (publish.publish: x509_v2's, and vent_pki's one request for a
# node's policies) is a minion's `minion_pub` request; the master worker serving it
# sends the job's `publish` to the same master and waits for it. Salt 3008.4 routes a
# minion's requests to the `*` pool whatever their command (it cannot read them,
# docs/upstream/salt-master-peer-publish-stall.md), and `publish` by its command.
SIGNING_WAITS_ON = "publish"


def signing_workers(pools: dict | None, worker_threads: int | None) -> int | None:
    """How many master workers serve remote signings and also the ``publish`` they
    wait on: None when the master's ``pools`` (its resolved ``worker_pools``) give
    ``publish`` workers of its own. ``pools`` None (``worker_pools_enabled: False``):
    one queue for everything, ``worker_threads`` workers."""
    if not pools:
        return worker_threads
    catchall = next(name for name, pool in pools.items() if "*" in pool["commands"])
    if any(SIGNING_WAITS_ON in pool["commands"] for name, pool in pools.items() if name != catchall):
        return None
    return pools[catchall]["worker_count"]


def signing_batch(signers: int, shared_workers: int | None) -> int | None:
    """How many nodes may get certificates from the CA minion at once: all of them
    (None) when no master worker serves both signings and what they wait on
    (``shared_workers``: ``signing_workers``), or while they are fewer than those
    workers, else one less. The master deals requests round-robin, to busy workers
    too: a worker holding a signing can be dealt the very request it waits for, and
    waits out the master's `timeout` with every request dealt to it meanwhile
    (salt#27421). Batches make that rarer; only pools of their own end it."""
    if not shared_workers or signers < shared_workers:
        return None
    return max(1, shared_workers - 1)


def orchestration(vent: dict, nodes: dict, shared_workers: int | None = None) -> dict:
    """Everything the orchestrations decide from settings and roles: the targets, the
    phases to run, the worker and signing batch sizes (``shared_workers``: the
    master's ``signing_workers``), the release files each step installs and those each
    minion needs for the phases that run."""
    out = targets(vent, nodes)
    signers = {*out["controller_ids"], *out["etcd_ids"], *out["compute_ids"]}
    out.update({
        "phases": phases(vent),
        "worker_batch": vent["orchestrate"]["worker_batch"],
        "signing_batch": signing_batch(len(signers), shared_workers),
        "ready_timeout": ready_timeout(vent),
        "artifacts": {step: step_artifacts(vent, step) for step in INSTALLING_STEPS},
    })
    out["release_files"] = release_files(out["artifacts"], out, out["phases"])
    out["joined"] = joined_phases(out, out["phases"], out["signing_batch"])
    out["joined_sls"] = joined_sls(out["joined"])
    out["followed_sls"] = followed_sls(out["joined"], out, out["phases"])
    out["workers_sls"] = list(WORKERS_SLS)
    return out


def release_files(artifacts: dict, tgt: dict, steps: list[str]) -> dict[str, list[list[str]]]:
    """``{minion: [[component, file], ...]}``: the release files that the steps among
    ``steps`` put on each minion (``artifacts``: each step's files, ``tgt``:
    ``targets``), so one check before anything changes covers the whole run."""
    files: dict[str, list[list[str]]] = {}
    for step in (s for s in steps if s in INSTALLING_STEPS):
        for minion in tgt[INSTALLING_STEPS[step]]:
            mine = files.setdefault(minion, [])
            mine += [f for f in artifacts[step] if f not in mine]
    return {m: f for m, f in sorted(files.items()) if f}


def from_release(vent: dict, component: str) -> bool:
    """The component is installed from its pinned release file (not Debian's package)."""
    key = PACKAGED.get(component)
    return key is None or vent[key]["install"] == "release"


def step_artifacts(vent: dict, step: str) -> list[list[str]]:
    """The release files a deploy step installs, as ``[component, file]``."""
    files = [list(f) for f in STEP_ARTIFACTS[step] if from_release(vent, f[0])]
    if step == "runtime" and vent["gvisor"]["enabled"]:
        files += [list(f) for f in STEP_ARTIFACTS["gvisor"]]
    return files


# --- paths, ports, timeouts -----------------------------------------------------------


def paths(vent: dict) -> dict:
    """Where Vent's files live on a node."""
    pki, dirs = vent["pki"], vent["kubernetes"]["dirs"]
    return {
        "pki": pki["dir"],
        "ca_cert": f"{pki['dir']}/ca.crt",
        "etcd_ca_cert": f"{pki['dir']}/etcd-ca.crt",
        "kubeconfig": pki["kubeconfig_dir"],
        "admin_kubeconfig": f"{pki['kubeconfig_dir']}/admin.kubeconfig",
        "encryption_config": vent["encryption"]["config_file"],
        "bin": dirs["bin"],
        "kubectl": f"{dirs['bin']}/kubectl",
        "config": dirs["config"],
        "systemd": dirs["systemd"],
        "cni_bin": vent["cni"]["bin_dir"],
        "cni_conf": vent["cni"]["conf_dir"],
        "mirror": vent["artifacts"]["mirror"],
        "unpack_root": vent["artifacts"]["unpack_root"],
        "manifests": vent["addons"]["manifest_dir"],
    }


def ports(vent: dict) -> dict:
    return {
        "api": int(vent["cluster"]["api"]["port"]),
        "etcd_client": int(vent["etcd"]["client_port"]),
        "etcd_peer": int(vent["etcd"]["peer_port"]),
        "kubelet": int(vent["kubelet"]["port"]),
        "kubelet_healthz": int(vent["kubelet"]["healthz_port"]),
        "kube_proxy_healthz": int(vent["kube_proxy"]["healthz_port"]),
        "kube_proxy_metrics": int(vent["kube_proxy"]["metrics_port"]),
        "vxlan": int(vent["flannel"]["vxlan_port"]),
    }


def ready_timeout(vent: dict) -> int:
    """How long any wait for a Kubernetes component may take, in seconds."""
    return int(vent["kubernetes"]["ready_timeout"])


# --- derived network values --------------------------------------------------------


def service_ip(vent: dict, index: int) -> str:
    """The ``index``-th address of the service CIDR (1: the API's ClusterIP)."""
    return str(ipaddress.ip_network(vent["cluster"]["service_cidr"], strict=True)[int(index)])


def api_service_ip(vent: dict) -> str:
    return service_ip(vent, 1)


def dns_ip(vent: dict) -> str:
    """``vent:cluster:dns_ip``, or the 10th service address."""
    return vent["cluster"]["dns_ip"] or service_ip(vent, 10)


def is_ready(obj: dict) -> bool:
    """A Kubernetes node or pod whose Ready condition is True."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in obj.get("status", {}).get("conditions", []))


def _url_host(host: str) -> str:
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


def api_url(host: str, vent: dict) -> str:
    return f"https://{_url_host(host)}:{ports(vent)['api']}"


def local_api(vent: dict) -> str:
    """The API as every node's components reach it: a controller's own API server, or
    on any other node its local proxy over all controllers (apiproxy formula)."""
    return api_url(LOCAL_API, vent)


def api_backends(vent: dict, nodes: dict) -> list[dict]:
    """What a node-local API proxy fronts: ``{name, address}`` of every controller
    with a private address (``address`` is ``ip:port``)."""
    port = ports(vent)["api"]
    return [{"name": m, "address": f"{_url_host(nodes[m]['private_ip'])}:{port}"}
            for m in controllers(nodes) if (nodes[m] or {}).get("private_ip")]


def operator_api(vent: dict, nodes: dict) -> str | None:
    """The API address for operators: vent:cluster:api:endpoint (a name, an address or
    a URL), else the first controller's public address."""
    host = vent["cluster"]["api"]["endpoint"]
    if host and str(host).startswith("https://"):
        return str(host)
    if not host:
        ids = controllers(nodes)
        if not ids:
            return None
        node = nodes[ids[0]] or {}
        host = node.get("public_ip") or node.get("private_ip")
        if not host:
            return None
    return api_url(str(host), vent)


def etcd_cluster(vent: dict, nodes: dict) -> list[dict]:
    """The etcd members, sorted by minion id: ``{name, private_ip, peer_url,
    client_url}``. ValueError names what is missing."""
    members = etcd_members(nodes)
    if not members:
        raise ValueError("no etcd member in the mine (mine function vent_node): no minion has the etcd "
                         "or controller role; run `salt '*' mine.update` after setting the roles grain")
    missing = [m for m in members if not (nodes[m] or {}).get("private_ip")]
    if missing:
        raise ValueError(f"mine:vent_node: {', '.join(missing)} publish no private_ip; set the grain "
                         "vent:private_ip or vent:network:private_interface")
    p = ports(vent)
    return [{"name": m, "private_ip": nodes[m]["private_ip"],
             "peer_url": f"https://{_url_host(nodes[m]['private_ip'])}:{p['etcd_peer']}",
             "client_url": f"https://{_url_host(nodes[m]['private_ip'])}:{p['etcd_client']}"}
            for m in members]


def etcd_client_urls(vent: dict, nodes: dict) -> list[str]:
    return [m["client_url"] for m in etcd_cluster(vent, nodes)]


# --- release artifacts ---------------------------------------------------------------


def arch(osarch: str | None) -> str:
    osarch = osarch or "amd64"
    return ARCH_ALIASES.get(osarch, osarch)


def artifact(vent: dict, component: str, name: str, osarch: str | None = None) -> dict:
    """Where a release file comes from: ``{sources, source_hash, hash_type, mirror,
    members, version, origin, url}``. ``sources`` lists the mirror path first, then the
    upstream URL when downloads are allowed.

    Checksums are keyed by version, so a changed version without its checksums is an
    error rather than a silent reuse of the old ones. A file that `./vent artifacts
    build` made from source for this very version (``vent:artifacts:built``, written
    from the mirror's BUILT.json) is verified against its recorded sha256 instead: a
    local build never matches upstream's bytes, and it is never downloaded."""
    art = vent["artifacts"]
    release = art["releases"][component]
    a = arch(osarch)
    upstream_arch = (release.get("arch") or {}).get(a, a)
    entry = release["files"][name]
    version = str(release["version"])
    key = f"vent:artifacts:releases:{component}:files:{name}:checksums"
    url = entry["url"].format(version=version, arch=upstream_arch)
    hash_type = entry.get("hash_type", "sha256")
    built = (((art.get("built") or {}).get(component) or {}).get(version) or {}).get("files", {})
    if (built.get(name) or {}).get(a):
        checksum, hash_type, origin = built[name][a], "sha256", "built"
    else:
        by_version = entry.get("checksums") or {}
        if version not in by_version:
            pinned = ", ".join(sorted(str(v) for v in by_version)) or "none"
            raise ValueError(f"{key}: no checksums for version {version} "
                             f"(checksums are pinned for: {pinned})")
        checksum, origin = (by_version[version] or {}).get(a), "published"
        if not checksum:
            raise ValueError(f"{key}:{version}:{a} is missing")
    mirror = "/".join([art["mirror"].rstrip("/"), component, version, a, url.rsplit("/", 1)[1]])
    sources = ["file://" + mirror]
    if art["allow_download"] and origin == "published":
        sources.append(url)
    return {
        "component": component,
        "name": name,
        "version": version,
        "arch": a,
        "url": url,
        "mirror": mirror,
        "sources": sources,
        "hash_type": hash_type,
        "source_hash": f"{hash_type}={checksum}",
        "members": [m.format(version=version, arch=upstream_arch) for m in entry.get("members", [])],
        "origin": origin,
        "key": f"vent:artifacts:releases:{component}:files:{name}",
    }


def image(vent: dict, component: str, osarch: str | None = None) -> str:
    """The pinned container image of a release: ``registry/name:tag@sha256:...``.

    An image `./vent artifacts build` made for this version carries its own digest
    (``vent:artifacts:built``); otherwise the published digest for this version and
    arch. A release without ``digests`` (a test image none is published for) is
    referenced by tag."""
    art = vent["artifacts"]
    release = art["releases"][component]
    version = str(release["version"])
    a = arch(osarch)
    ref = release["image"].format(version=version)
    built = (((art.get("built") or {}).get(component) or {}).get(version) or {}).get("images") or {}
    digests = release.get("digests")
    digest = built.get(a) or ((digests or {}).get(version) or {}).get(a)
    if digest:
        return f"{ref}@{digest}"
    if digests is not None:
        raise ValueError(f"vent:artifacts:releases:{component}:digests: no image digest for version "
                         f"{version} ({a})")
    return ref
