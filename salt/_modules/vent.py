"""Vent's derived settings and pillar validation.

Everything that is computed from pillar (the DNS service IP, the first service IP,
artifact sources, the node list from the mine) is computed here and nowhere else, so
states, templates, runners and the orchestration agree. The runner `vent.validate`
calls `vent.check` on the master; the orchestration calls it on the CA minion.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import re

__virtualname__ = "vent"

PACKET_PRIVATE = ipaddress.ip_network("10.0.0.0/8")
DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
ROLES = ("controller", "worker", "etcd")
ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}


def __virtual__():
    return __virtualname__


# --- derived values ---------------------------------------------------------------


def _settings(vent=None):
    if vent is None:
        vent = __pillar__.get("vent", {})  # noqa: F821 (salt dunder)
    return vent


def service_ip(index, vent=None):
    """The ``index``-th address of the service CIDR (1: the API's ClusterIP)."""
    net = ipaddress.ip_network(_settings(vent)["cluster"]["service_cidr"], strict=True)
    return str(net[int(index)])


def api_service_ip(vent=None):
    """The ClusterIP of ``kubernetes.default``: always the first service address."""
    return service_ip(1, vent)


def dns_ip(vent=None):
    """The cluster DNS IP: ``vent:cluster:dns_ip`` or the 10th service address."""
    cluster = _settings(vent)["cluster"]
    return cluster.get("dns_ip") or service_ip(10, vent)


def arch(osarch=None):
    osarch = osarch or __grains__.get("osarch", "amd64")  # noqa: F821
    return ARCH_ALIASES.get(osarch, osarch)


def artifact(component, name, osarch=None, vent=None):
    """Where a release file comes from: ``{source, source_hash, hash_type, mirror,
    members, version}``. ``source`` lists the mirror path first, then the upstream
    URL when downloads are allowed."""
    settings = _settings(vent)
    art = settings["artifacts"]
    release = art["releases"][component]
    a = arch(osarch)
    upstream_arch = release.get("arch", {}).get(a, a)
    entry = release["files"][name]
    version = str(release["version"])
    url = entry["url"].format(version=version, arch=upstream_arch)
    checksum = entry["checksums"].get(a)
    if not checksum:
        raise ValueError(f"vent:artifacts:releases:{component}:files:{name}:checksums:{a} is missing")
    mirror_path = "/".join(
        [art["mirror"].rstrip("/"), component, version, a, url.rsplit("/", 1)[1]]
    )
    sources = ["file://" + mirror_path]
    if art.get("allow_download", True):
        sources.append(url)
    members = [m.format(version=version, arch=upstream_arch) for m in entry.get("members", [])]
    return {
        "component": component,
        "name": name,
        "version": version,
        "url": url,
        "mirror": mirror_path,
        "sources": sources,
        "hash_type": entry.get("hash_type", "sha256"),
        "source_hash": f"{entry.get('hash_type', 'sha256')}={checksum}",
        "members": members,
    }


def image(component, vent=None):
    """The pinned container image of a release, by digest when one is recorded:
    ``registry/name:v<version>@sha256:...``."""
    release = _settings(vent)["artifacts"]["releases"][component]
    ref = release["image"].format(version=release["version"])
    digest = release.get("digest")
    return f"{ref}@{digest}" if digest else ref


# --- the node's identity, published to the mine -----------------------------------


def _ipv4_of_interface(pattern):
    ifaces = __grains__.get("ip4_interfaces", {})  # noqa: F821
    for name in sorted(ifaces):
        if re.fullmatch(pattern, name) and ifaces[name]:
            return ifaces[name][0]
    return None


def private_ip():
    """The node's private address: grain ``vent:private_ip`` (set at deploy from the
    Packet API), else the first IPv4 of the pillar-named interface."""
    grain = __grains__.get("vent", {}).get("private_ip")  # noqa: F821
    if grain:
        return grain
    net = __pillar__.get("vent", {}).get("network", {})  # noqa: F821
    if net.get("private_interface"):
        return _ipv4_of_interface(re.escape(net["private_interface"]))
    if net.get("private_interface_regex"):
        return _ipv4_of_interface(net["private_interface_regex"])
    return None


def node_info():
    """What a node publishes to the mine: roles and addresses. No secrets."""
    vent = __grains__.get("vent", {})  # noqa: F821
    return {
        "id": __grains__.get("id"),  # noqa: F821
        "hostname": __grains__.get("host"),  # noqa: F821
        "roles": sorted(__grains__.get("roles", [])),  # noqa: F821
        "private_ip": private_ip(),
        "public_ip": vent.get("public_ip"),
        "arch": arch(),
    }


# --- validation -------------------------------------------------------------------


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


def check(vent=None, nodes=None, schema=None):
    """Validate the effective ``vent`` pillar.

    ``nodes`` is the mine's ``vent_node`` data (minion id -> node_info), ``schema`` the
    tracked defaults to spot typos against. Returns ``{"errors": [...], "warnings":
    [...], "summary": {...}}``; every line starts with the pillar key at fault.
    """
    vent = _settings(vent)
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
        for fname, entry in sorted((rel.get("files") or {}).items()):
            sums = entry.get("checksums") or {}
            if not any(sums.values()):
                errors.append(
                    f"vent:artifacts:releases:{comp}:files:{fname}:checksums: "
                    f"version {rel.get('version')} has no checksum"
                )

    roles = {m: set((n or {}).get("roles") or []) for m, n in nodes.items()}
    for minion, r in sorted(roles.items()):
        unknown = r - set(ROLES)
        if unknown:
            errors.append(f"grains:roles: {minion} has unknown role(s) {sorted(unknown)}")
    controllers = sorted(m for m, r in roles.items() if "controller" in r)
    if nodes and not controllers:
        errors.append("grains:roles: no minion has the controller role")
    etcd_members = sorted(m for m, r in roles.items() if "etcd" in r) or controllers
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
        "dns_ip": dns_ip(vent) if "service_cidr" in nets and not errors else None,
        "controllers": controllers,
        "workers": sorted(m for m, r in roles.items() if "worker" in r),
        "etcd": etcd_members,
    }
    return {"errors": errors, "warnings": warnings, "summary": summary}

