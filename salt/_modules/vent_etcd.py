"""etcd membership, configuration values and health for the etcd formula.

The member list comes from the mine (``vent_node``), never from a written list:
nodes with the ``etcd`` role are the members, or the controllers when no node has
that role. States, the runners and the orchestration all call these functions, so
they agree on names, URLs and certificate paths.
"""

from __future__ import annotations

import os
import subprocess
import time

import salt.exceptions
import salt.utils.hashutils
import salt.utils.json
import salt.utils.yaml

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs, or the modules synced from it
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


__virtualname__ = "vent_etcd"

CONFIG_NAME = "etcd.conf.yml"
# The first of these certificate pairs found in the PKI dir authenticates health
# checks and snapshots: controllers have the apiserver's client cert, every member
# has its peer cert (which carries clientAuth).
CLIENT_CERTS = ("apiserver-etcd-client", "etcd-peer")
# The CA etcd trusts for clients and peers (its own; pki.certs.etcd_ca writes it).
ETCD_CA = "etcd-ca.crt"


def __virtual__():
    return __virtualname__


# Where Debian's etcd-server and etcd-client packages put their binaries.
DEBIAN_BIN = "/usr/bin"


def _vent():
    return __pillar__["vent"]


def _model(fun, *args, **kwargs):
    return _util(f"vent_model.{fun}")(*args, **kwargs)


def _pki_dir():
    return _model("paths", _vent())["pki"]


def bin_dir():
    """Where the etcd binaries are: Debian's package puts them in /usr/bin, the
    release tarball's are linked into the cluster's bin dir."""
    if _vent()["etcd"]["install"] == "package":
        return DEBIAN_BIN
    return _model("paths", _vent())["bin"]


def members(nodes=None):
    """The cluster's members as this minion sees them through the mine: ``{name,
    private_ip, peer_url, client_url}`` each (roles etcd, else controller)."""
    if nodes is None:
        nodes = __salt__["vent_cluster.nodes"]()
    try:
        return _model("etcd_cluster", _vent(), nodes)
    except ValueError as exc:
        raise salt.exceptions.CommandExecutionError(str(exc)) from exc


def tls_files(pki_dir=None):
    pki = pki_dir or _pki_dir()
    return {
        "ca": os.path.join(pki, ETCD_CA),
        "server_cert": os.path.join(pki, "etcd-server.crt"),
        "server_key": os.path.join(pki, "etcd-server.key"),
        "peer_cert": os.path.join(pki, "etcd-peer.crt"),
        "peer_key": os.path.join(pki, "etcd-peer.key"),
    }


def _frozen_bootstrap(config_file, data_dir, name):
    """The initial-cluster values etcd already bootstrapped with, if it has.

    etcd reads initial-* settings only when its data dir is empty; keeping the ones
    it started with stops a membership change from rewriting (and restarting) every
    member's configuration."""
    if not os.path.isdir(os.path.join(data_dir, "member")) or not os.path.isfile(config_file):
        return None
    with open(config_file, encoding="utf-8") as fh:
        old = salt.utils.yaml.safe_load(fh) or {}
    if old.get("name") != name or not old.get("initial-cluster"):
        return None
    return {
        "initial_cluster": old["initial-cluster"],
        "initial_cluster_state": old.get("initial-cluster-state", "new"),
    }


def settings(nodes=None):
    """Everything etcd.conf.yml needs for this minion, derived from pillar and mine."""
    etcd = _vent()["etcd"]
    name = __grains__["id"]
    all_members = members(nodes)
    me = next((m for m in all_members if m["name"] == name), None)
    if me is None:
        raise salt.exceptions.CommandExecutionError(
            f"{name} is not an etcd member: the mine lists "
            f"{', '.join(m['name'] for m in all_members)} (roles etcd, else controller)"
        )
    config_file = os.path.join(etcd["config_dir"], CONFIG_NAME)
    data_dir = etcd["data_dir"]
    bootstrap = _frozen_bootstrap(config_file, data_dir, name) or {
        "initial_cluster": ",".join(f"{m['name']}={m['peer_url']}" for m in all_members),
        "initial_cluster_state": __grains__.get(_model("etcd_join_grain")) or "new",
    }
    cluster_name = _vent()["cluster"]["name"]
    return {
        "name": name,
        "data_dir": data_dir,
        "config_file": config_file,
        "listen_client_urls": f"{me['client_url']},https://{_model('local_api_address')}:{etcd['client_port']}",
        "listen_peer_urls": me["peer_url"],
        "advertise_client_urls": me["client_url"],
        "initial_advertise_peer_urls": me["peer_url"],
        "initial_cluster_token": f"vent-{cluster_name}",
        **bootstrap,
        "tls": tls_files(),
    }


def _client_tls(pki_dir=None):
    pki = pki_dir or _pki_dir()
    for base in CLIENT_CERTS:
        crt, key = os.path.join(pki, f"{base}.crt"), os.path.join(pki, f"{base}.key")
        if os.path.isfile(crt) and os.path.isfile(key):
            return {"ca": os.path.join(pki, ETCD_CA), "cert": crt, "key": key}
    raise salt.exceptions.CommandExecutionError(
        f"vent:pki:dir: {pki} has no etcd client certificate "
        f"({' or '.join(b + '.{crt,key}' for b in CLIENT_CERTS)}); apply the pki formula first"
    )


def etcdctl(args, endpoints, timeout=5, pki_dir=None):
    """Run etcdctl over TLS with this node's client certificate; return the
    CompletedProcess (never raises on a non-zero exit)."""
    tls = _client_tls(pki_dir)
    argv = [
        os.path.join(bin_dir(), "etcdctl"),
        f"--endpoints={','.join(endpoints)}",
        f"--cacert={tls['ca']}",
        f"--cert={tls['cert']}",
        f"--key={tls['key']}",
        f"--dial-timeout={max(1, int(timeout))}s",
        f"--command-timeout={max(1, int(timeout))}s",
        *args,
    ]
    env = dict(os.environ, ETCDCTL_API="3")
    try:
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout + 5, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        return subprocess.CompletedProcess(argv, 124, "", f"timed out after {exc.timeout}s")


def _last_line(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def wait_healthy(timeout=None, nodes=None, pki_dir=None, interval=0.5):
    """Wait until ``etcdctl endpoint health`` passes for every member.

    Bounded by ``timeout`` seconds (default ``vent:etcd:health_timeout``); on timeout
    raises an error naming each member still failing and etcdctl's reason."""
    if timeout is None:
        timeout = _vent()["etcd"]["health_timeout"]
    timeout = float(timeout)
    all_members = members(nodes)
    deadline = time.monotonic() + timeout
    failing = {}
    while True:
        failing = {}
        for member in all_members:
            left = max(1.0, min(5.0, deadline - time.monotonic()))
            proc = etcdctl(["endpoint", "health"], [member["client_url"]], left, pki_dir)
            if proc.returncode != 0:
                failing[member["name"]] = (
                    member["client_url"],
                    _last_line(proc.stderr) or _last_line(proc.stdout),
                )
        if not failing:
            return {
                "healthy": [m["name"] for m in all_members],
                "comment": f"etcd healthy on {len(all_members)} member(s)",
            }
        if time.monotonic() + interval >= deadline:
            break
        time.sleep(interval)
    detail = "; ".join(f"{n} ({url}): {why}" for n, (url, why) in sorted(failing.items()))
    raise salt.exceptions.CommandExecutionError(
        f"etcd unhealthy after {timeout:g}s (vent:etcd:health_timeout): "
        f"member(s) {', '.join(sorted(failing))} failing: {detail}"
    )


def member_add(name, peer_url, pki_dir=None):
    """Add ``name`` with ``peer_url`` to the running cluster, through the local member.

    Idempotent: a member already registered with that peer URL is left alone."""
    me = next(m for m in members() if m["name"] == __grains__["id"])
    endpoint = [me["client_url"]]
    proc = etcdctl(["member", "list", "-w", "json"], endpoint, 5, pki_dir)
    if proc.returncode != 0:
        raise salt.exceptions.CommandExecutionError(
            f"etcd member {me['name']} cannot list members: {_last_line(proc.stderr)}"
        )
    for member in salt.utils.json.loads(proc.stdout).get("members", []):
        if peer_url in member.get("peerURLs", []):
            return {"added": False, "comment": f"{name} ({peer_url}) is already a member"}
    proc = etcdctl(["member", "add", name, f"--peer-urls={peer_url}"], endpoint, 10, pki_dir)
    if proc.returncode != 0:
        raise salt.exceptions.CommandExecutionError(
            f"etcdctl member add {name} via {me['name']} failed: {_last_line(proc.stderr)}"
        )
    return {"added": True, "comment": f"{name} ({peer_url}) added via {me['name']}"}


def snapshot(path=None, pki_dir=None):
    """Save a snapshot of the local member's keyspace to ``path`` (0600)."""
    me = next(m for m in members() if m["name"] == __grains__["id"])
    if path is None:
        path = os.path.join(__opts__["cachedir"], "vent-etcd-snapshot.db")
    if os.path.exists(path):
        os.unlink(path)
    old_umask = os.umask(0o077)
    try:
        proc = etcdctl(["snapshot", "save", path], [me["client_url"]], 120, pki_dir)
    finally:
        os.umask(old_umask)
    if proc.returncode != 0 or not os.path.isfile(path):
        raise salt.exceptions.CommandExecutionError(
            f"etcdctl snapshot save on {me['name']} failed: "
            f"{_last_line(proc.stderr) or _last_line(proc.stdout)}"
        )
    os.chmod(path, 0o600)
    return {"path": path, "sha256": salt.utils.hashutils.get_hash(path), "size": os.path.getsize(path),
            "member": me["name"]}


def _etcdutl():
    """etcdutl where the release brings it; Debian's 3.4 does snapshots with etcdctl."""
    path = os.path.join(bin_dir(), "etcdutl")
    return [path] if os.path.exists(path) else [os.path.join(bin_dir(), "etcdctl")]


def restore(snapshot, sha256):
    """Rebuild this member's data from ``snapshot`` (already on this node), leaving
    etcd stopped: every member restores first, then all start together.

    The snapshot must have ``sha256`` and pass etcd's own integrity check; the old data
    is moved aside (``<data_dir>/member.before-restore-<time>``), never deleted."""
    if not os.path.isfile(snapshot):
        raise salt.exceptions.CommandExecutionError(f"snapshot {snapshot} is not on {__grains__['id']}")
    got = salt.utils.hashutils.get_hash(snapshot)
    if got != sha256:
        raise salt.exceptions.CommandExecutionError(
            f"snapshot {snapshot} has sha256 {got}, not {sha256}: corrupt or another file")
    status = subprocess.run(
        [*_etcdutl(), "snapshot", "status", snapshot, "-w", "json"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, ETCDCTL_API="3"),
    )
    if status.returncode:
        raise salt.exceptions.CommandExecutionError(
            f"snapshot {snapshot} fails etcd's integrity check: {_last_line(status.stderr)}")
    conf = settings()
    name, data_dir = conf["name"], conf["data_dir"]
    __salt__["service.stop"]("etcd")
    # Inside the data dir, not beside it: it is often a mount of its own, and a rename
    # across filesystems fails. etcd reads only <data_dir>/member.
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    member, staging = os.path.join(data_dir, "member"), os.path.join(data_dir, f"restore-{stamp}")
    aside = None
    if os.path.exists(member):
        aside = os.path.join(data_dir, f"member.before-restore-{stamp}")
        os.rename(member, aside)
    proc = subprocess.run([
        *_etcdutl(), "snapshot", "restore", snapshot, f"--name={name}",
        # Today's members, not the frozen bootstrap: the restored cluster is formed anew.
        "--initial-cluster=" + ",".join(f"{m['name']}={m['peer_url']}" for m in members()),
        f"--initial-cluster-token={conf['initial_cluster_token']}",
        f"--initial-advertise-peer-urls={conf['initial_advertise_peer_urls']}", f"--data-dir={staging}",
    ], capture_output=True, text=True, timeout=300, env=dict(os.environ, ETCDCTL_API="3"))
    if proc.returncode:
        if aside:
            os.rename(aside, member)
        raise salt.exceptions.CommandExecutionError(
            f"etcdutl snapshot restore on {name} failed: {_last_line(proc.stderr)}; its data is "
            "as it was, etcd stopped")
    os.rename(os.path.join(staging, "member"), member)
    os.rmdir(staging)
    subprocess.run(["chown", "-R", "etcd:etcd", data_dir], check=True)
    os.chmod(data_dir, 0o700)
    return {"member": name, "restored": data_dir, "aside": aside}
