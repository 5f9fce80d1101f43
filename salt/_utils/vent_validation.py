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


def problems(vent, nodes=None, schema=None):
    """Validate the effective ``vent`` pillar.

    ``nodes`` is the mine's ``vent_node`` data (minion id -> node_info), ``schema`` the
    tracked defaults to spot typos against. Returns ``{"errors": [...], "warnings":
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
        if not isinstance(mask, int) or not nets["cluster_cidr"].prefixlen < mask <= 30:
            errors.append(
                f"vent:cluster:node_cidr_mask: {mask!r} must be an integer longer than "
                f"the cluster CIDR's /{nets['cluster_cidr'].prefixlen} and at most 30"
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
    provider = enc.get("provider")
    if provider not in ("aescbc", "secretbox"):
        errors.append(f"vent:encryption:provider: {provider!r} must be aescbc or secretbox")
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

