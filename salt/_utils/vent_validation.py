"""Validation of the effective ``vent`` pillar and the nodes, before anything changes.

``problems`` returns every finding as a line that starts with the pillar key (or mine
entry) at fault, so ``salt-run vent.validate`` and the orchestration's first step say
exactly what to fix. Role rules and derived values come from the cluster model
(``vent_model``), never recomputed here.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import importlib.util
import ipaddress
import os
import re
import sys

import yaml

PACKET_PRIVATE = ipaddress.ip_network("10.0.0.0/8")
DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _model(name):
    """A function of the cluster model, from the file beside this one: Salt's loader
    gives utilities no ``__utils__``."""
    key = "vent_model_beside_validation"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, os.path.join(os.path.dirname(__file__),
                                                                        "vent_model.py"))
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return getattr(sys.modules[key], name)


def _net(value, key, problems):
    try:
        return ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        problems.append(f"{key}: {value!r} is not a valid CIDR ({exc})")
        return None


def _walk_unknown(value, schema, path, problems):
    """Flag keys absent from the defaults that look like a misspelt known key."""
    if not isinstance(value, dict) or not isinstance(schema, dict):
        return
    for key, sub in value.items():
        if key in schema:
            _walk_unknown(sub, schema[key], f"{path}:{key}", problems)
            continue
        close = difflib.get_close_matches(str(key), [str(k) for k in schema], n=1, cutoff=0.75)
        if close:
            problems.append(f"{path}:{key}: unknown key; did you mean {path}:{close[0]}?")


# Largest IPv4 service range kube-apiserver accepts (--service-cluster-ip-range: "the
# mask must be >= 12"), and the most bits the node IPAM splits a cluster CIDR by.
MIN_SERVICE_PREFIX = 12
MAX_NODE_MASK_BITS = 16
DURATION = re.compile(r"^[0-9]+(us|ms|s|m|h|d)?$")
TYPES = {
    "port": ("an integer 1-65535", lambda v: _is_int(v) and 1 <= v <= 65535),
    "count": ("an integer >= 1", lambda v: _is_int(v) and v >= 1),
    "count_or_null": ("null or an integer >= 1", lambda v: v is None or (_is_int(v) and v >= 1)),
    "seconds": ("a number of seconds > 0", lambda v: isinstance(v, int | float) and not isinstance(v, bool)
                and v > 0),
    "duration": ("a duration like 2s or 500ms", lambda v: bool(DURATION.match(str(v)))),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
}


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _lookup(data, path):
    for part in path.split(":"):
        if not isinstance(data, dict) or part not in data:
            return KeyError
        data = data[part]
    return data


def rules(schema_doc, defaults_doc, source):
    """A formula's ``schema.yaml`` with each ``one_of`` resolved against its
    ``defaults.yaml``: {pillar key: {"one_of": [...]} | {"type": name}, "source": file}."""
    out = {}
    for key, rule in (schema_doc or {}).items():
        rule = dict(rule or {})
        allowed = rule.get("one_of")
        if isinstance(allowed, str):
            found = _lookup(defaults_doc or {}, allowed)
            if found is KeyError:
                raise ValueError(f"{source}: {key}: one_of names {allowed}, absent from defaults.yaml")
            rule["one_of"] = list(found)
        if "type" in rule and rule["type"] not in TYPES:
            raise ValueError(f"{source}: {key}: unknown type {rule['type']!r}")
        out[key] = {**rule, "source": source}
    return out


def rules_from_files(read, paths):
    """Every ``<dir>/schema.yaml`` among ``paths`` (file-server paths), resolved against
    its ``<dir>/defaults.yaml``; ``read(path)`` gives a file's text or None."""
    out, load = {}, _model("load_yaml")
    for path in sorted(p for p in paths if p.count("/") == 1 and p.endswith("/schema.yaml")):
        defaults = read(path.replace("/schema.yaml", "/defaults.yaml"))
        out.update(rules(load(read(path)), load(defaults) if defaults else {}, path))
    return out


def _rule_problems(vent, formula_rules, problems):
    for key, rule in sorted(formula_rules.items()):
        value = _lookup({"vent": vent}, key)
        if value is KeyError:
            problems.append(f"{key}: missing (read by {rule['source']})")
        elif "one_of" in rule and value not in rule["one_of"]:
            problems.append(f"{key}: {value!r} is not one of {', '.join(map(str, rule['one_of']))}")
        elif "type" in rule and not TYPES[rule["type"]][1](value):
            problems.append(f"{key}: {value!r} must be {TYPES[rule['type']][0]}")


def yaml_error_at(path, text):
    """``<path>:<line>:<column>: <problem>`` for a file that is not valid YAML; None
    when it parses (its error came from elsewhere, e.g. Jinja)."""
    try:
        yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = f" ({exc.context})" if exc.context else ""
        return f"{where}: {exc.problem}{context}"
    except yaml.YAMLError as exc:
        return f"{path}: {exc}"
    return None


def ca_peer_run_problems(ca_minion, peer_run):
    """The master must let the CA minion, and it alone, ask whether a minion matches a
    signing policy's roles (``match.compound_matches``); without it every remote
    signing is refused."""
    allowed = [pattern for pattern, funs in (peer_run or {}).items()
               if "match.compound_matches" in (funs or []) and re.match(str(pattern), str(ca_minion))]
    if allowed:
        return []
    return [f"vent:pki:ca_minion: the master's peer_run does not let {ca_minion} call "
            "match.compound_matches, which checks who may use each signing policy: "
            "`./vent setup` renders it from this setting (then restart salt-master)"]


def peer_warnings(peer):
    """Without Vent's peer functions in the master's ``peer`` setting each certificate
    asks the CA minion on its own: the PKI still works, a request slower per
    certificate."""
    def allowed(fun):
        return any(re.match(str(pattern), fun) for funs in (peer or {}).values() for pattern in funs or [])

    what = {"vent_pki.remote_signing_policies": "for its signing policy",
            "vent_pki.sign_remote_certificates": "to sign it, when it is missing"}
    return [f"the master's peer setting does not allow {fun}: each certificate asks the CA "
            f"minion {asks} on its own, about 0.6 s each (etc/salt/master)"
            for fun, asks in what.items() if not allowed(fun)]


def worker_pool_warnings(pools, worker_threads):
    """A master that serves ``publish`` in the pool of the minions' requests can stall
    while nodes sign (``vent_model.signing_workers``): the orchestration then lets
    fewer nodes sign at once, which makes a stall rarer, not impossible."""
    shared = _model("signing_workers")(pools, worker_threads)
    if shared is None:
        return []
    return [f"the master serves publish with the minions' requests ({shared} workers): a remote "
            "signing can wait behind its own worker and stall the whole master for its timeout; "
            "give publish a worker pool of its own as etc/salt/master does "
            "(docs/upstream/salt-master-peer-publish-stall.md)"]


def top_level_problems(keys):
    """A top-level pillar key that is nearly ``vent`` is a misspelt ``vent:`` whose
    settings would be silently ignored."""
    return [f"{key}: unknown top-level pillar key; did you mean vent? (its settings are ignored)"
            for key in sorted(map(str, keys)) if key != "vent"
            and difflib.get_close_matches(key.lower(), ["vent"], n=1, cutoff=0.6)]


def _node_problems(nodes, vent, problems):
    """Cluster shapes that cannot work: one identity on two minions, nowhere to run pods."""
    for field in ("hostname", "private_ip", "public_ip"):
        seen = {}
        for minion, node in sorted(nodes.items()):
            value = (node or {}).get(field) or (minion if field == "hostname" else None)
            if value:
                seen.setdefault(str(value), []).append(minion)
        for value, minions in sorted(seen.items()):
            if len(minions) > 1:
                problems.append(f"mine:vent_node:{field}: {value} is claimed by {', '.join(minions)}")
    if nodes and _model("controllers")(nodes) and not _model("compute")(nodes, vent):
        problems.append(
            "grains:roles: no node runs pods (no worker, and vent:roles:controllers_schedulable "
            "is false): CoreDNS and every workload would stay Pending")


def problems(vent, nodes=None, schema=None, formula_rules=None):
    """Validate the effective ``vent`` pillar.

    ``nodes`` is the mine's ``vent_node`` data (minion id -> node_info), ``schema`` the
    tracked defaults to spot typos against, ``formula_rules`` what the formulas accept
    (``rules`` of every ``schema.yaml``). Returns ``{"errors": [...], "warnings":
    [...], "summary": {...}}``; every line starts with the pillar key at fault.
    """
    nodes = nodes or {}
    errors, warnings = [], []
    cluster = vent.get("cluster", {})

    nets = {}
    for key in ("cluster_cidr", "service_cidr"):
        if key not in cluster:
            errors.append(f"vent:cluster:{key}: missing")
            continue
        net = _net(cluster[key], f"vent:cluster:{key}", errors)
        if net is not None:
            nets[key] = net
    if len(nets) == 2 and nets["cluster_cidr"].overlaps(nets["service_cidr"]):
        errors.append(
            f"vent:cluster:service_cidr: {nets['service_cidr']} overlaps "
            f"vent:cluster:cluster_cidr {nets['cluster_cidr']}"
        )
    if not cluster.get("allow_10_8"):
        for key, net in nets.items():
            if net.version == 4 and net.overlaps(PACKET_PRIVATE):
                errors.append(
                    f"vent:cluster:{key}: {net} overlaps 10.0.0.0/8, Packet's private "
                    "range (set vent:cluster:allow_10_8: true if your nodes are not on Packet)"
                )

    mask = cluster.get("node_cidr_mask")
    if "cluster_cidr" in nets:
        prefix = nets["cluster_cidr"].prefixlen
        if not _is_int(mask) or not prefix < mask <= 30:
            errors.append(
                f"vent:cluster:node_cidr_mask: {mask!r} must be an integer longer than "
                f"the cluster CIDR's /{prefix} and at most 30"
            )
        elif mask - prefix > MAX_NODE_MASK_BITS:
            errors.append(
                f"vent:cluster:node_cidr_mask: /{mask} splits vent:cluster:cluster_cidr /{prefix} by "
                f"{mask - prefix} bits; kube-controller-manager allows at most {MAX_NODE_MASK_BITS}"
            )
    svc_net = nets.get("service_cidr")
    if svc_net is not None and svc_net.version == 4 and svc_net.prefixlen < MIN_SERVICE_PREFIX:
        errors.append(
            f"vent:cluster:service_cidr: {svc_net} is larger than kube-apiserver accepts "
            f"(at most /{MIN_SERVICE_PREFIX} for IPv4)"
        )

    if "service_cidr" in nets:
        svc = nets["service_cidr"]
        raw = cluster.get("dns_ip")
        if raw is not None:
            try:
                dns = ipaddress.ip_address(str(raw))
            except ValueError:
                errors.append(f"vent:cluster:dns_ip: {raw!r} is not a valid IP address")
            else:
                if dns not in svc:
                    errors.append(f"vent:cluster:dns_ip: {dns} is outside vent:cluster:service_cidr {svc}")
                elif dns in (svc[0], svc[1]):
                    errors.append(
                        f"vent:cluster:dns_ip: {dns} is the network or first address of "
                        f"{svc}, which belongs to the kubernetes API service"
                    )
        elif svc.num_addresses < 12:
            errors.append(f"vent:cluster:service_cidr: {svc} is too small to hold the DNS IP")

    for minion, node in sorted(nodes.items()):
        for field in ("private_ip", "public_ip"):
            raw = (node or {}).get(field)
            if not raw:
                continue
            try:
                addr = ipaddress.ip_address(str(raw))
            except ValueError:
                errors.append(f"mine:vent_node:{minion}:{field}: {raw!r} is not a valid IP address")
                continue
            for key, net in nets.items():
                if addr in net:
                    errors.append(f"vent:cluster:{key}: {net} contains {minion}'s {field} {addr}")
        host = (node or {}).get("hostname") or minion
        if not DNS_LABEL.match(str(host).split(".")[0]):
            errors.append(f"mine:vent_node:{minion}:hostname: {host!r} is not a valid DNS label")

    extra = cluster.get("api", {}).get("extra_names") or []
    for name in extra:
        try:
            ipaddress.ip_address(str(name))
        except ValueError:
            if not all(DNS_LABEL.match(p) for p in str(name).lower().split(".")):
                errors.append(f"vent:cluster:api:extra_names: {name!r} is neither an IP nor a DNS name")

    if not DNS_LABEL.match(str(cluster.get("name", ""))):
        errors.append(f"vent:cluster:name: {cluster.get('name')!r} is not a valid DNS label")

    enc = vent.get("encryption", {})
    key = enc.get("key")
    if not key:
        errors.append(
            "vent:encryption:key: missing (run `salt-run vent.encryption_key_init`)"
        )
    else:
        try:
            raw_key = base64.b64decode(str(key), validate=True)
        except (binascii.Error, ValueError):
            errors.append("vent:encryption:key: not valid base64")
        else:
            if len(raw_key) != 32:
                errors.append(f"vent:encryption:key: decodes to {len(raw_key)} bytes, must be 32")

    pki = vent.get("pki", {})
    pkey = pki.get("key", {})
    algo, size = pkey.get("algorithm"), pkey.get("size")
    if (algo, size) not in (("rsa", 2048), ("rsa", 4096), ("ec", 256)):
        errors.append(
            f"vent:pki:key: algorithm {algo!r} size {size!r}; use rsa 2048, rsa 4096 or ec 256"
        )
    if pki.get("ca_minion") and not DNS_LABEL.match(str(pki["ca_minion"])):
        errors.append(f"vent:pki:ca_minion: {pki['ca_minion']!r} is not a valid minion id")

    releases = vent.get("artifacts", {}).get("releases", {})
    if not releases:
        errors.append("vent:artifacts:releases: missing (pillar/vent/artifacts.sls)")
    for comp, rel in sorted(releases.items()):
        if not rel.get("version"):
            errors.append(f"vent:artifacts:releases:{comp}:version: missing")
        version = str(rel.get("version"))
        built = ((vent.get("artifacts", {}).get("built") or {}).get(comp) or {}).get(version, {})
        for fname, entry in sorted((rel.get("files") or {}).items()):
            sums = (entry.get("checksums") or {}).get(version) or {}
            if not any(sums.values()) and not (built.get("files") or {}).get(fname):
                pinned = ", ".join(sorted(str(v) for v in (entry.get("checksums") or {}))) or "none"
                errors.append(
                    f"vent:artifacts:releases:{comp}:files:{fname}:checksums: no checksum for "
                    f"version {version} (checksums are pinned for: {pinned})"
                )
        if rel.get("digests") is not None and not rel["digests"].get(version) and not built.get("images"):
            errors.append(
                f"vent:artifacts:releases:{comp}:digests: no image digest for version {version}"
            )

    for minion, node in sorted(nodes.items()):
        unknown = set((node or {}).get("roles") or []) - set(_model("role_names")())
        if unknown:
            errors.append(f"grains:roles: {minion} has unknown role(s) {sorted(unknown)}")
    controllers = _model("controllers")(nodes)
    if nodes and not controllers:
        errors.append("grains:roles: no minion has the controller role")
    etcd_members = _model("etcd_members")(nodes)
    if etcd_members and len(etcd_members) % 2 == 0:
        warnings.append(
            f"vent:etcd: {len(etcd_members)} etcd members; an even count tolerates no "
            "more failures than one fewer"
        )
    if nodes and pki.get("ca_minion") and pki["ca_minion"] not in nodes:
        errors.append(f"vent:pki:ca_minion: {pki['ca_minion']!r} is not a known minion")

    _node_problems(nodes, vent, errors)
    if formula_rules:
        _rule_problems(vent, formula_rules, errors)
    if schema:
        _walk_unknown(vent, schema, "vent", errors)

    summary = {
        "cluster_cidr": cluster.get("cluster_cidr"),
        "service_cidr": cluster.get("service_cidr"),
        "dns_ip": _model("dns_ip")(vent) if "service_cidr" in nets and not errors else None,
        "controllers": controllers,
        "workers": _model("workers")(nodes),
        "etcd": etcd_members,
    }
    return {"errors": errors, "warnings": warnings, "summary": summary}

