"""Kubernetes control-plane helpers: command-line flags from pillar, health waits and
idempotent apply of cluster objects.

Flags are computed here (not in Jinja) so the unit, the tests and the flag check all
read one function. ``apply_manifest`` is shared by every formula that puts objects
into the cluster (RBAC, flannel, add-ons): it reads the live object first and calls
``kubectl apply --server-side`` only when a desired field differs, so a re-run reports
no changes.
"""

from __future__ import annotations

import codecs
import json
import os
import selectors
import shlex
import ssl
import subprocess
import time
import urllib.error
import urllib.request

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs, or the modules synced from it
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


try:  # Salt is absent when the pure functions are imported by unit tests.
    from salt.exceptions import CommandExecutionError
except ImportError:  # pragma: no cover
    CommandExecutionError = RuntimeError

__virtualname__ = "vent_k8s"

# Admission plugins named explicitly (most are on by default in 1.32; listing them
# keeps the intent visible and survives a change of upstream defaults).
ADMISSION_PLUGINS = (
    "NamespaceLifecycle",
    "LimitRanger",
    "ServiceAccount",
    "DefaultStorageClass",
    "DefaultTolerationSeconds",
    "NodeRestriction",
    "PodSecurity",
    "Priority",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
)
# Fields the server owns; a difference there is never a reason to apply.
SERVER_FIELDS = {
    ("metadata", "resourceVersion"),
    ("metadata", "uid"),
    ("metadata", "creationTimestamp"),
    ("metadata", "generation"),
    ("metadata", "managedFields"),
    ("metadata", "selfLink"),
    ("status",),
}


def __virtual__():
    return __virtualname__


# --- settings ------------------------------------------------------------------------


def _vent():
    return __pillar__["vent"]


def _model(fun, *args, **kwargs):
    return _util(f"vent_model.{fun}")(*args, **kwargs)


def dirs(vent=None):
    """Where the control plane's files live: the model's paths (bin, config, systemd,
    pki, kubeconfig, encryption_config, ...)."""
    return _model("paths", vent if vent is not None else _vent())


def etcd_servers(nodes, vent=None):
    """``https://<private_ip>:<client_port>`` of every etcd member in the mine data."""
    try:
        return _model("etcd_client_urls", vent if vent is not None else _vent(), nodes or {})
    except ValueError as exc:
        raise CommandExecutionError(str(exc)) from exc


# --- flags ---------------------------------------------------------------------------


def base_flags(component, vent, private_ip, nodes):
    """The flags Vent sets for ``component`` before pillar overrides, in a stable order."""
    cluster = vent["cluster"]
    d = dirs(vent)
    pki, kc = d["pki"], d["kubeconfig"]
    if component == "apiserver":
        if not private_ip:
            raise CommandExecutionError(
                "kube-apiserver --advertise-address: this node has no private IP (grain "
                "vent:private_ip or pillar vent:network:private_interface)"
            )
        audit = vent["kubernetes"]["audit"]
        flags = {
            "advertise-address": private_ip,
            # The API is the one public listener (issue: 6443 on all addresses).
            "bind-address": "0.0.0.0",  # noqa: S104
            "secure-port": cluster["api"]["port"],
            "allow-privileged": "true",
            "authorization-mode": "Node,RBAC",
            "authentication-config": f"{d['config']}/authentication-config.yaml",
            "enable-admission-plugins": ",".join(ADMISSION_PLUGINS),
            "client-ca-file": f"{pki}/ca.crt",
            "tls-cert-file": f"{pki}/apiserver.crt",
            "tls-private-key-file": f"{pki}/apiserver.key",
            "etcd-servers": ",".join(etcd_servers(nodes, vent)),
            "etcd-cafile": f"{pki}/etcd-ca.crt",
            "etcd-certfile": f"{pki}/apiserver-etcd-client.crt",
            "etcd-keyfile": f"{pki}/apiserver-etcd-client.key",
            "encryption-provider-config": d["encryption_config"],
            "service-cluster-ip-range": cluster["service_cidr"],
            "service-account-issuer": f"https://kubernetes.default.svc.{cluster['domain']}",
            "service-account-key-file": f"{pki}/service-account.pub",
            "service-account-signing-key-file": f"{pki}/service-account.key",
            "kubelet-certificate-authority": f"{pki}/ca.crt",
            "kubelet-client-certificate": f"{pki}/apiserver-kubelet-client.crt",
            "kubelet-client-key": f"{pki}/apiserver-kubelet-client.key",
            "kubelet-preferred-address-types": "InternalIP,Hostname,ExternalIP",
            "audit-policy-file": f"{d['config']}/audit-policy.yaml",
            "audit-log-path": "/var/log/kube-apiserver/audit.log",
            "audit-log-maxage": audit["max_age_days"],
            "audit-log-maxbackup": audit["max_backups"],
            "audit-log-maxsize": audit["max_size_mb"],
            "profiling": "false",
            "v": 2,
        }
        if vent["pki"]["front_proxy"]:
            flags.update({
                "requestheader-client-ca-file": f"{pki}/front-proxy-ca.crt",
                "requestheader-allowed-names": "front-proxy-client",
                "requestheader-extra-headers-prefix": "X-Remote-Extra-",
                "requestheader-group-headers": "X-Remote-Group",
                "requestheader-username-headers": "X-Remote-User",
                "proxy-client-cert-file": f"{pki}/front-proxy-client.crt",
                "proxy-client-key-file": f"{pki}/front-proxy-client.key",
            })
        return flags
    if component == "controller_manager":
        kubeconfig = f"{kc}/kube-controller-manager.kubeconfig"
        api = vent["kubernetes"]["controller_manager_api"]
        return {
            "bind-address": "127.0.0.1",
            "kubeconfig": kubeconfig,
            "authentication-kubeconfig": kubeconfig,
            "authorization-kubeconfig": kubeconfig,
            "leader-elect": "true",
            "cluster-name": cluster["name"],
            "allocate-node-cidrs": "true",
            "cluster-cidr": cluster["cluster_cidr"],
            "node-cidr-mask-size": cluster["node_cidr_mask"],
            "service-cluster-ip-range": cluster["service_cidr"],
            "use-service-account-credentials": "true",
            "kube-api-qps": api["qps"],
            "kube-api-burst": api["burst"],
            "service-account-private-key-file": f"{pki}/service-account.key",
            "root-ca-file": f"{pki}/ca.crt",
            "client-ca-file": f"{pki}/ca.crt",
            "profiling": "false",
            "v": 2,
        }
    if component == "scheduler":
        kubeconfig = f"{kc}/kube-scheduler.kubeconfig"
        # Leader election, the kubeconfig and profiling live in the config file: their
        # flags are deprecated for kube-scheduler.
        return {
            "config": f"{d['config']}/kube-scheduler.yaml",
            "bind-address": "127.0.0.1",
            "authentication-kubeconfig": kubeconfig,
            "authorization-kubeconfig": kubeconfig,
            "client-ca-file": f"{pki}/ca.crt",
            "v": 2,
        }
    raise CommandExecutionError(
        f"unknown control-plane component {component!r}; one of {', '.join(_model('control_plane'))}")


def merge_flags(base, overrides):
    """``base`` with pillar ``overrides`` applied: a value replaces or adds the flag,
    ``None`` drops it. Flag names may be given with or without leading dashes."""
    merged = dict(base)
    for name, value in (overrides or {}).items():
        key = str(name).lstrip("-")
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _flag_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def render_flags(component, vent, private_ip, nodes):
    """The effective ``{flag: value-string}`` of ``component`` (pure: for tests)."""
    overrides = vent["kubernetes"][f"{component}_flags"] or {}
    merged = merge_flags(base_flags(component, vent, private_ip, nodes), overrides)
    return {k: _flag_value(v) for k, v in merged.items()}


def flags(component):
    """The effective flags of ``component`` on this minion (pillar, grains, mine)."""
    nodes = __salt__["vent_cluster.nodes"]() if component == "apiserver" else {}
    return render_flags(component, _vent(), __salt__["vent_cluster.private_ip"](), nodes)


def exec_args(flag_map):
    """``--name=value`` words for a systemd ExecStart; values with spaces are quoted."""
    words = []
    for name, value in flag_map.items():
        word = f"--{name}={value}"
        if any(c.isspace() for c in word) or '"' in word:
            word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
        words.append(word)
    return words


def unknown_flags(flag_names, known, deprecated=()):
    """Rendered flag names absent from ``known`` or listed as ``deprecated``."""
    known, deprecated = set(known), set(deprecated)
    return sorted(n for n in flag_names if n not in known or n in deprecated)


def help_flags(binary):
    """The flag names a binary accepts, read from ``<binary> --help``: the check of
    rendered flags against the installed version itself."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30)
    names = set()
    for line in (out.stdout + out.stderr).splitlines():
        word = line.strip().split(" ", 1)[0].split("=", 1)[0]
        if word.startswith("--") and len(word) > 2:
            names.add(word[2:])
    return sorted(names)


def check_flags(component):
    """Flags rendered for ``component`` that the installed binary does not know."""
    binary = f"{dirs()['bin']}/{_model('control_plane')[component]}"
    return unknown_flags(flags(component), help_flags(binary))


# --- health --------------------------------------------------------------------------


def wait_healthy(server, ca_file, timeout=None, paths=("/livez", "/readyz"), interval=0.5,
                 client_cert=None):
    """Poll ``server`` + each path until all answer 200 ``ok``, verifying the server
    against ``ca_file`` (never insecure): the one readiness check of the API, used by
    the states, the orchestration and the runners. Bounded by ``timeout`` seconds
    (default vent:kubernetes:ready_timeout). Returns ``{"ok": bool, "status": {path:
    str}, "elapsed": seconds}``."""
    if timeout is None:
        timeout = _model("ready_timeout", _vent())
    if not server.startswith("https://"):
        raise CommandExecutionError(f"{server}: the API is checked over https only")
    ctx = ssl.create_default_context(cafile=ca_file)
    if client_cert:
        ctx.load_cert_chain(*client_cert)
    start = time.monotonic()
    deadline = start + float(timeout)
    status = {p: "not tried" for p in paths}
    attempts = int(float(timeout) / max(interval, 0.05)) + 2
    for _ in range(attempts):
        for path in paths:
            if status[path] == "ok":
                continue
            left = max(0.5, min(10.0, deadline - time.monotonic()))
            try:
                url = server.rstrip("/") + path
                with urllib.request.urlopen(url, context=ctx, timeout=left) as r:  # noqa: S310
                    body = r.read(4096).decode(errors="replace").strip()
                    status[path] = "ok" if r.status == 200 and body == "ok" else f"{r.status} {body}"
            except urllib.error.HTTPError as exc:
                status[path] = f"HTTP {exc.code}: {exc.read(2048).decode(errors='replace').strip()}"
            except (urllib.error.URLError, OSError) as exc:
                status[path] = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if all(s == "ok" for s in status.values()) or time.monotonic() >= deadline:
            break
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
    ok = all(s == "ok" for s in status.values())
    return {"ok": ok, "status": status, "elapsed": round(time.monotonic() - start, 2)}


# --- rollouts ------------------------------------------------------------------------

# The status fields that say how many pods of a workload run its current spec, are
# available, and should exist (as `kubectl rollout status` reads them).
ROLLOUT_FIELDS = {
    "Deployment": ("updatedReplicas", "availableReplicas", "replicas"),
    "DaemonSet": ("updatedNumberScheduled", "numberAvailable", "desiredNumberScheduled"),
}


def rollout_verdict(obj):
    """``(done, detail)`` for a live Deployment or DaemonSet: done when the controller
    has seen its current spec and every pod it wants runs that spec and is available."""
    kind, name = obj.get("kind"), object_id(obj)
    if kind not in ROLLOUT_FIELDS:
        raise CommandExecutionError(f"{name}: rollouts are read for {', '.join(ROLLOUT_FIELDS)} only")
    status = obj.get("status") or {}
    generation = obj.get("metadata", {}).get("generation", 0)
    if status.get("observedGeneration", 0) < generation:
        return False, f"{name}: generation {generation} not yet seen by its controller"
    updated, available, wanted = (int(status.get(f) or 0) for f in ROLLOUT_FIELDS[kind])
    if kind == "Deployment":  # the API fills in spec.replicas; its status may lag it
        wanted = int(obj["spec"]["replicas"])
    detail = f"{name}: {updated}/{wanted} updated, {available}/{wanted} available"
    return updated >= wanted and available >= wanted, detail


def _pods_not_ready(obj, kubeconfig, kubectl):
    """``name on node: why`` for each pod of the live workload ``obj`` that is not Ready."""
    labels = obj["spec"]["selector"].get("matchLabels")
    if not labels:  # selected by expressions only: not worth a second query language here
        return []
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    pods = json.loads(_kubectl(kubectl, kubeconfig, [
        "get", "pods", "-n", obj["metadata"]["namespace"], "-l", selector, "-o", "json",
    ]))["items"]
    found = []
    for pod in pods:
        status = pod.get("status", {})
        if _model("is_ready", pod):
            continue
        waiting = [c["state"]["waiting"].get("reason", "waiting") for c in status.get("containerStatuses", [])
                   if c.get("state", {}).get("waiting")]
        why = ", ".join(waiting) or status.get("reason") or status.get("phase", "unknown")
        found.append(f"{pod['metadata']['name']} on {pod['spec'].get('nodeName') or 'no node'}: {why}")
    return found


# Between a watch the API ended and the next, so a watch that keeps ending at once does
# not become a busy loop.
RESTART_PAUSE = 1.0


def _watched_objects(kubectl, kubeconfig, args, deadline):
    """Each object ``kubectl get ... -o json --watch`` prints, as it prints it, until
    ``deadline`` (monotonic) or the watch ends; one kubectl and one API watch instead
    of a kubectl start and a GET per poll. kubectl is stopped on the way out."""
    cmd = [kubectl, f"--kubeconfig={kubeconfig}", *args, "-o", "json", "--watch"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # noqa: S603
    decoder, text, buf = json.JSONDecoder(), codecs.getincrementaldecoder("utf-8")(), ""
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(timeout=left):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                buf = (buf + text.decode(chunk)).lstrip()
                while buf:
                    try:
                        obj, end = decoder.raw_decode(buf)
                    except json.JSONDecodeError:  # the rest of this object is still coming
                        break
                    buf = buf[end:].lstrip()
                    yield obj
    finally:
        proc.kill()
        _, err = proc.communicate()
    if proc.returncode not in (0, -9) and time.monotonic() < deadline:
        said = err.decode(errors="replace").strip()[:2000]
        raise CommandExecutionError(f"{' '.join(shlex.quote(c) for c in cmd[:4])} ... failed: {said}")


def wait_rolled_out(kind, name, namespace, kubeconfig, kubectl="kubectl", timeout=None):
    """Watch the Deployment or DaemonSet ``namespace/name`` until ``rollout_verdict``
    says done, bounded by ``timeout`` seconds (default vent:kubernetes:ready_timeout).
    Returns ``{"ok": bool, "detail": str, "elapsed": seconds}``; when not done,
    ``detail`` also names each pod that is not Ready and why."""
    if timeout is None:
        timeout = _model("ready_timeout", _vent())
    start = time.monotonic()
    deadline = start + float(timeout)
    args = ["get", kind.lower(), name, "-n", namespace]
    obj, done, detail = None, False, "not read"
    # The API ends a watch after its request timeout; a new one carries on from there.
    while not done and time.monotonic() < deadline:
        for obj in _watched_objects(kubectl, kubeconfig, args, deadline):
            done, detail = rollout_verdict(obj)
            if done:
                break
        else:
            time.sleep(min(RESTART_PAUSE, max(0.0, deadline - time.monotonic())))
    if obj is None:  # nothing came before the deadline: read it once to say why
        obj = json.loads(_kubectl(kubectl, kubeconfig, [*args, "-o", "json"]))
        done, detail = rollout_verdict(obj)
    if not done:
        detail = "; ".join([detail, *_pods_not_ready(obj, kubeconfig, kubectl)])
    return {"ok": done, "detail": detail, "elapsed": round(time.monotonic() - start, 2)}


# --- cluster objects -----------------------------------------------------------------


def load_manifest(manifest):
    """Objects from a YAML/JSON string, a file path, a dict or a list (``kind: List``
    items are flattened; empty documents skipped)."""
    if isinstance(manifest, str) and "\n" not in manifest and os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as fh:
            manifest = fh.read()
    if isinstance(manifest, str):
        docs = _util("vent_model.load_yaml_all")(manifest)
    elif isinstance(manifest, dict):
        docs = [manifest]
    else:
        docs = list(manifest or [])
    objects = []
    for doc in docs:
        if not doc:
            continue
        if isinstance(doc, list):
            objects.extend(load_manifest(doc))
        elif doc.get("kind", "").endswith("List") and "items" in doc:
            objects.extend(load_manifest(doc["items"]))
        else:
            for key in ("apiVersion", "kind"):
                if not doc.get(key):
                    raise CommandExecutionError(f"manifest object without {key}: {doc!r:.200}")
            if not doc.get("metadata", {}).get("name"):
                raise CommandExecutionError(f"{doc['kind']} without metadata.name in manifest")
            objects.append(doc)
    return objects


def object_id(obj):
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{obj['kind']}/{ns + '/' if ns else ''}{meta['name']}"


def differences(desired, live, path=()):
    """Paths where ``live`` does not carry what ``desired`` says. Only fields present
    in ``desired`` count (the server adds defaults and status); lists must match in
    length and element by element; server-owned metadata is ignored."""
    if path in SERVER_FIELDS:
        return []
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [".".join(path) or "."]
        found = []
        for key, value in desired.items():
            sub = (*path, str(key))
            if sub in SERVER_FIELDS:
                continue
            if key not in live:
                if value in (None, {}, []):
                    continue
                found.append(".".join(sub))
            else:
                found.extend(differences(value, live[key], sub))
        return found
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return [".".join(path)]
        found = []
        for i, (d, l_) in enumerate(zip(desired, live, strict=True)):
            found.extend(differences(d, l_, (*path[:-1], f"{path[-1] if path else ''}[{i}]")))
        return found
    # The server returns quantities as strings (cpu: 1 reads back as "1").
    if desired == live or (not isinstance(desired, bool) and str(desired) == str(live)):
        return []
    return [".".join(path)]


def plan(desired, live):
    """What to do with one object: ``("create", [])``, ``("update", [paths])`` or
    ``(None, [])`` when the live object already says everything desired says."""
    if not live:
        return "create", []
    diff = differences(desired, live)
    return ("update", diff) if diff else (None, [])


def _kubectl(kubectl, kubeconfig, args, stdin=None):
    cmd = [kubectl, f"--kubeconfig={kubeconfig}", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise CommandExecutionError(
            f"{' '.join(shlex.quote(c) for c in cmd[:4])} ... failed: {proc.stderr.strip()[:2000]}"
        )
    return proc.stdout


def _items(out):
    out = out.strip()
    if not out:
        return []
    data = json.loads(out)
    return (data.get("items") or []) if data.get("kind", "").endswith("List") else [data]


def _live(obj, kubeconfig, kubectl):
    found = _items(_kubectl(kubectl, kubeconfig, ["get", "-f", "-", "-o", "json", "--ignore-not-found"],
                            stdin=json.dumps(obj)))
    return found[0] if found else None


def _same_object(desired, live):
    def key(obj):
        group = obj.get("apiVersion", "").rpartition("/")[0]
        return group, obj.get("kind"), obj.get("metadata", {}).get("name")

    namespace = desired.get("metadata", {}).get("namespace")
    return key(desired) == key(live) and namespace in (None, live.get("metadata", {}).get("namespace"))


def _live_all(objs, kubeconfig, kubectl):
    """The live object of each of ``objs`` (None where there is none), read in one
    kubectl call instead of one per object (each costs a kubectl start and an API
    round trip); object by object when that call fails, as it does for a kind the API
    does not serve yet (a custom resource before its definition is applied)."""
    if len(objs) < 2:
        return [_live(obj, kubeconfig, kubectl) for obj in objs]
    try:
        found = _items(_kubectl(kubectl, kubeconfig, ["get", "-f", "-", "-o", "json", "--ignore-not-found"],
                                stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs})))
    except CommandExecutionError:
        return [_live(obj, kubeconfig, kubectl) for obj in objs]
    return [next((live for live in found if _same_object(obj, live)), None) for obj in objs]


def apply_manifest(manifest, kubeconfig, kubectl="kubectl", test=False, field_manager="vent"):
    """Make the cluster carry every object of ``manifest`` (YAML text, path, dict or
    list). Each object is read live first; only objects that are missing or differ
    are sent with ``kubectl apply --server-side``. Returns ``{"changes": {id:
    {"action", "fields"}}, "unchanged": [ids], "test": bool}``; ``changes`` is empty
    when the cluster already matched."""
    changes, unchanged = {}, []
    objs = load_manifest(manifest)
    for obj, live in zip(objs, _live_all(objs, kubeconfig, kubectl), strict=True):
        oid = object_id(obj)
        action, fields = plan(obj, live)
        if action is None:
            unchanged.append(oid)
            continue
        if not test:
            _kubectl(kubectl, kubeconfig,
                     ["apply", "--server-side", f"--field-manager={field_manager}",
                      "--force-conflicts", "-f", "-"], stdin=json.dumps(obj))
        changes[oid] = {"action": action, "fields": fields}
    return {"changes": changes, "unchanged": unchanged, "test": bool(test)}


def delete_manifest(manifest, kubeconfig, kubectl="kubectl", test=False):
    """Remove every object of ``manifest`` from the cluster, the last one first (a
    Deployment before the ServiceAccount it runs as). Objects already gone are left
    alone. Returns ``{"changes": {id: {"action": "delete"}}, "unchanged": [ids
    already absent], "test": bool}``, the shape ``apply_manifest`` returns."""
    changes, unchanged = {}, []
    objs = list(reversed(load_manifest(manifest)))
    for obj, live in zip(objs, _live_all(objs, kubeconfig, kubectl), strict=True):
        oid = object_id(obj)
        if live is None:
            unchanged.append(oid)
            continue
        if not test:
            _kubectl(kubectl, kubeconfig, ["delete", "--ignore-not-found", "-f", "-"], stdin=json.dumps(obj))
        changes[oid] = {"action": "delete"}
    return {"changes": changes, "unchanged": unchanged, "test": bool(test)}
