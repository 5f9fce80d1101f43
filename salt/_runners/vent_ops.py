"""Operator commands for a running cluster: ``salt-run vent.public_ip``,
``vent.status``, ``vent.smoke``, ``vent.remove_node``.

They ask the nodes through Salt (the mine for addresses, the CA controller's admin
kubeconfig for the API), tolerate missing pieces by saying "missing", and exit
non-zero through the ``vent_text`` outputter when something is wrong.
"""

from __future__ import annotations

import json
import os
import shlex
import time
import urllib.request

import salt.client
import salt.wheel

__virtualname__ = "vent"

ADMIN_KUBECONFIG = "/etc/vent/kubeconfig/admin.kubeconfig"
SMOKE_NS = "vent-smoke"
# agnhost serves HTTP and answers DNS/connect probes; busybox brings nslookup and wget.
SMOKE_SERVER_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"
SMOKE_CLIENT_IMAGE = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
UNITS = {
    "controller": ["kube-apiserver", "kube-controller-manager", "kube-scheduler"],
    "etcd": ["etcd"],
    "compute": ["containerd", "kubelet", "kube-proxy"],
}
# Formulas in the order a node is taken apart: the reverse of the deploy.
CLEAN_ORDER = [
    ("compute", ["flannel", "kube_proxy", "kubelet", "cni", "containerd", "node"]),
    ("controller", ["controlplane"]),
    ("etcd", ["etcd"]),
    ("all", ["pki"]),
]


def __virtual__():
    return __virtualname__


def _text(text, retcode=0):
    return {"outputter": "vent_text", "data": text, "retcode": retcode}


def _pillar():
    return (__salt__["pillar.show_pillar"]() or {}).get("vent", {})


def _nodes():
    """minion id -> node info: the mine, completed with cached grains for minions that
    have not published yet."""
    nodes = {m: dict(n or {}) for m, n in (__salt__["mine.get"]("*", "vent_node") or {}).items()}
    for minion, grains in (__salt__["cache.grains"](tgt="*") or {}).items():
        node = nodes.setdefault(minion, {"id": minion})
        node.setdefault("roles", sorted((grains or {}).get("roles", [])))
        vent = (grains or {}).get("vent", {}) or {}
        for key in ("private_ip", "public_ip"):
            if not node.get(key) and vent.get(key):
                node[key] = vent[key]
    return nodes


def _roles(node, vent):
    roles = set(node.get("roles") or [])
    if "worker" in roles or ("controller" in roles and vent.get("roles", {}).get("controllers_schedulable")):
        roles.add("compute")
    return roles


def _etcd_members(nodes):
    members = sorted(m for m, n in nodes.items() if "etcd" in (n.get("roles") or []))
    return members or sorted(m for m, n in nodes.items() if "controller" in (n.get("roles") or []))


def _cmd(targets, fun, arg=(), kwarg=None, timeout=10):
    """Run ``fun`` on a list of minions: {minion: (ok, return)}; absent: no answer."""
    if not targets:
        return {}
    client = salt.client.LocalClient(mopts=__opts__)
    raw = client.cmd(
        list(targets), fun, list(arg), tgt_type="list", timeout=timeout, kwarg=kwarg or {},
        full_return=True,
    )
    out = {}
    for minion, data in (raw or {}).items():
        if isinstance(data, dict) and "ret" in data:
            out[minion] = (not data.get("retcode"), data["ret"])
    return out


# --- public_ip ----------------------------------------------------------------------


def public_ip():
    """The controllers' public IPs, one ``<minion> <ip>`` line each."""
    nodes = _nodes()
    lines = [
        f"{m} {n.get('public_ip') or 'missing'}"
        for m, n in sorted(nodes.items())
        if "controller" in (n.get("roles") or [])
    ]
    if not lines:
        return _text("no controller in the mine (run `salt-run state.orchestrate vent` first)", 1)
    return _text("\n".join(lines), 0 if all(not ln.endswith(" missing") for ln in lines) else 1)


# --- status -------------------------------------------------------------------------


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*[str(c) for c in r]).rstrip() for r in [header, *rows])


def _api_ready(controllers, pki_dir, port, timeout=5):
    """{controller: "ready" | reason} from /readyz on each controller's loopback."""
    res = _cmd(
        controllers,
        "http.query",
        [f"https://127.0.0.1:{port}/readyz"],
        {
            "status": True,
            "ca_bundle": f"{pki_dir}/ca.crt",
            "cert": [f"{pki_dir}/apiserver-kubelet-client.crt", f"{pki_dir}/apiserver-kubelet-client.key"],
            "timeout": timeout,
        },
        timeout=timeout + 5,
    )
    out = {}
    for minion in controllers:
        ok, ret = res.get(minion, (False, None))
        if ok and isinstance(ret, dict) and ret.get("status") == 200:
            out[minion] = "ready"
        elif isinstance(ret, dict):
            out[minion] = f"not ready ({ret.get('status') or ret.get('error', 'no answer')})"
        else:
            out[minion] = "missing"
    return out


def status():
    """One table of the cluster's nodes: roles, addresses, Salt reachability, services,
    etcd health, apiserver readiness and the earliest certificate expiry; below it
    each certificate's expiry. Exits non-zero when a node is unreachable or a service,
    etcd or the apiserver is not up."""
    vent = _pillar()
    pki_dir = vent.get("pki", {}).get("dir", "/etc/vent/pki")
    port = vent.get("cluster", {}).get("api", {}).get("port", 6443)
    nodes = _nodes()
    if not nodes:
        return _text("no nodes: no minion has published vent_node to the mine", 1)
    ids = sorted(nodes)
    ping = _cmd(ids, "test.ping", timeout=5)
    up = [m for m in ids if ping.get(m, (False, None))[1] is True]

    units = {m: [u for r in sorted(_roles(nodes[m], vent)) for u in UNITS.get(r, [])] for m in ids}
    etcd_members = _etcd_members(nodes)
    for m in etcd_members:
        if "etcd" not in units[m]:
            units[m].append("etcd")
    services = {m: {} for m in ids}
    for unit in sorted({u for us in units.values() for u in us}):
        targets = [m for m in up if unit in units[m]]
        for minion, (_ok, ret) in _cmd(targets, "service.status", [unit]).items():
            services[minion][unit] = ret is True
    etcd = {}
    live_members = [m for m in etcd_members if m in up]
    if live_members:
        res = _cmd(live_members[:1], "vent_etcd.wait_healthy", kwarg={"timeout": 3}, timeout=15)
        ok, ret = res.get(live_members[0], (False, "no answer"))
        for m in etcd_members:
            if ok:
                etcd[m] = "healthy"
            else:
                etcd[m] = "unhealthy" if m in str(ret) else "missing"
    controllers = [m for m in up if "controller" in (nodes[m].get("roles") or [])]
    api = _api_ready(controllers, pki_dir, port) if controllers else {}
    certs = {}
    for minion, (ok, ret) in _cmd(up, "x509.read_certificates", [f"{pki_dir}/*.crt"]).items():
        if ok and isinstance(ret, dict):
            certs[minion] = {
                os.path.basename(path): (info or {}).get("not_after") or (info or {}).get("Not After")
                for path, info in ret.items()
            }

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
    details = [
        f"  {m} {name}: {date}" for m in ids for name, date in sorted((certs.get(m) or {}).items())
    ]
    if details:
        text += "\n\ncertificates:\n" + "\n".join(details)
    return _text(text, 1 if bad else 0)


# --- smoke --------------------------------------------------------------------------


class _Failed(Exception):
    pass


class _Kubectl:
    """kubectl (and etcdctl) on the CA controller, with its admin kubeconfig."""

    def __init__(self, minion, timeout=60):
        self.minion = minion
        self.timeout = timeout

    def sh(self, command, timeout=None):
        res = _cmd(
            [self.minion], "cmd.run_all", [command],
            {"python_shell": True, "timeout": timeout or self.timeout},
            timeout=(timeout or self.timeout) + 10,
        )
        if self.minion not in res:
            raise _Failed(f"{self.minion} did not answer")
        ret = res[self.minion][1]
        if not isinstance(ret, dict):
            raise _Failed(str(ret))
        return ret

    def run(self, args, stdin=None, timeout=None):
        command = f"kubectl --kubeconfig={ADMIN_KUBECONFIG} " + " ".join(shlex.quote(a) for a in args)
        if stdin is not None:
            command = f"printf %s {shlex.quote(stdin)} | {command}"
        ret = self.sh(command, timeout)
        if ret.get("retcode"):
            raise _Failed((ret.get("stderr") or ret.get("stdout") or "no output").strip().splitlines()[-1])
        return ret.get("stdout", "")

    def json(self, args):
        return json.loads(self.run([*args, "-o", "json"]) or "{}")


def _running(pods):
    return [p for p in pods if p.get("status", {}).get("phase") == "Running"]


def _pod(name, node, image, args):
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": SMOKE_NS, "labels": {"app": name}},
        "spec": {"nodeName": node, "containers": [{"name": name, "image": image, "args": args}]},
    }


def smoke(timeout=180):
    """The original project's validation, as checks run in order; stops at the first
    failure and names it, removes what it created either way."""
    vent = _pillar()
    nodes = _nodes()
    ca = vent.get("pki", {}).get("ca_minion")
    pki_dir = vent.get("pki", {}).get("dir", "/etc/vent/pki")
    k = _Kubectl(ca)
    deadline = time.monotonic() + float(timeout)
    passed = []

    def wait(what, probe):
        last = None
        while time.monotonic() < deadline:
            try:
                last = probe()
                if last is True:
                    return
            except _Failed as exc:
                last = str(exc)
            time.sleep(3)
        raise _Failed(f"{what}: {last}")

    def api():
        try:
            k.run(["get", "--raw=/readyz"], timeout=15)
        except _Failed as exc:
            raise _Failed(f"API not reachable through {ca} ({ADMIN_KUBECONFIG}): {exc}") from None

    def nodes_ready():
        compute = sorted(n.get("hostname") or m for m, n in nodes.items() if "compute" in _roles(n, vent))

        def probe():
            items = k.json(["get", "nodes"]).get("items", [])
            ready = {
                i["metadata"]["name"] for i in items
                if any(c["type"] == "Ready" and c["status"] == "True"
                       for c in i["status"].get("conditions", []))
            }
            missing = [h for h in compute if h not in ready]
            return True if not missing else f"not Ready: {', '.join(missing)}"

        wait("nodes Ready", probe)

    def pods_running(label, what):
        def probe():
            items = k.json(["get", "pods", "-A", "-l", label]).get("items", [])
            if not items:
                return f"no {what} pod"
            if len(_running(items)) != len(items):
                return f"{len(_running(items))}/{len(items)} {what} pods Running"
            return True

        wait(f"{what} pods Running", probe)

    state = {}

    def pods_across_nodes():
        compute = sorted(n.get("hostname") or m for m, n in nodes.items() if "compute" in _roles(n, vent))
        if len(compute) < 2:
            raise _Failed(f"needs two schedulable nodes, found {len(compute)}")
        k.run(["create", "namespace", SMOKE_NS])
        manifest = {"apiVersion": "v1", "kind": "List", "items": [
            _pod("smoke-server", compute[0], SMOKE_SERVER_IMAGE, ["netexec", "--http-port=8080"]),
            _pod("smoke-client", compute[1], SMOKE_CLIENT_IMAGE, ["sleep", "3600"]),
        ]}
        k.run(["apply", "-f", "-"], stdin=json.dumps(manifest))
        k.run(["-n", SMOKE_NS, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s"],
              timeout=130)
        pod = k.json(["-n", SMOKE_NS, "get", "pod", "smoke-server"])
        state["server_ip"] = pod["status"]["podIP"]

    def dns():
        k.run(["-n", SMOKE_NS, "exec", "smoke-client", "--", "nslookup", "kubernetes.default"])

    def pod_to_pod():
        out = k.run(["-n", SMOKE_NS, "exec", "smoke-client", "--", "wget", "-qO-", "-T", "5",
                     f"http://{state['server_ip']}:8080/hostname"])
        if "smoke-server" not in out:
            raise _Failed(f"unexpected answer {out!r}")

    def secret_encrypted():
        k.run(["-n", SMOKE_NS, "create", "secret", "generic", "smoke-secret", "--from-literal=k=v"])
        members = _etcd_members(nodes)
        ips = [nodes[m].get("private_ip") for m in members]
        port = vent.get("etcd", {}).get("client_port", 2379)
        endpoints = ",".join(f"https://{ip}:{port}" for ip in ips if ip)
        ret = k.sh(
            f"ETCDCTL_API=3 etcdctl --endpoints={endpoints} --cacert={pki_dir}/ca.crt "
            f"--cert={pki_dir}/apiserver-etcd-client.crt --key={pki_dir}/apiserver-etcd-client.key "
            f"get /registry/secrets/{SMOKE_NS}/smoke-secret --print-value-only | head -c 40 "
            "| tr -c '[:print:]' '?'"
        )
        head = ret.get("stdout", "")
        if not head.startswith("k8s:enc:"):
            raise _Failed(f"etcd holds the secret as {head[:20]!r}..., not k8s:enc:<provider>")
        state["prefix"] = head.split("?")[0][:30]

    def nodeport():
        k.run(["-n", SMOKE_NS, "create", "deployment", "echoserver", f"--image={SMOKE_SERVER_IMAGE}",
               "--", "/agnhost", "netexec", "--http-port=8080"])
        k.run(["-n", SMOKE_NS, "expose", "deployment", "echoserver", "--type=NodePort", "--port=8080"])
        svc = k.json(["-n", SMOKE_NS, "get", "service", "echoserver"])
        port = svc["spec"]["ports"][0]["nodePort"]
        workers = [n.get("public_ip") for n in nodes.values()
                   if "compute" in _roles(n, vent) and n.get("public_ip")]
        if not workers:
            raise _Failed("no worker has a public IP in the mine")
        url = f"http://{workers[0]}:{port}/hostname"

        def probe():
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (http to the cluster)
                    return True if resp.status == 200 else f"HTTP {resp.status}"
            except OSError as exc:
                return f"{url}: {exc}"

        wait(f"echoserver on NodePort {url}", probe)

    checks = [
        ("api", api),
        ("nodes-ready", nodes_ready),
        ("flannel-pods", lambda: pods_running("app=flannel", "flannel")),
        ("dns-pods", lambda: pods_running("k8s-app=kube-dns", "DNS")),
        ("pods-across-nodes", pods_across_nodes),
        ("dns-resolves-kubernetes-default", dns),
        ("pod-to-pod", pod_to_pod),
        ("secret-encrypted-at-rest", secret_encrypted),
        ("echoserver-nodeport", nodeport),
    ]
    failed = None
    try:
        for name, check in checks:
            try:
                check()
            except _Failed as exc:
                failed = f"FAILED {name}: {exc}"
                break
            passed.append(f"ok {name}")
    finally:
        if any(p == "ok pods-across-nodes" for p in passed) or (failed and "pods-across-nodes" in failed):
            try:
                k.run(["delete", "namespace", SMOKE_NS, "--wait=false", "--ignore-not-found"])
            except _Failed as exc:
                passed.append(f"cleanup: {exc}")
    lines = passed + ([failed] if failed else [])
    return _text("\n".join(lines), 1 if failed else 0)


# --- remove_node --------------------------------------------------------------------


def _sync_vent_modules(minion_id, lines, timeout):
    """The clean states render with Vent's modules, which a machine that joined but
    never went through the orchestration's refresh step does not have yet."""
    for fun, kw in __utils__["vent_minion_sync.calls"]():
        ok, ret = _cmd([minion_id], fun, kwarg=kw, timeout=int(timeout)).get(
            minion_id, (False, "no answer"))
        if not ok:
            lines.append(f"FAILED {fun} (skip clean): {str(ret)[:300]}")
            return False
    return True


def remove_node(minion_id, destroy=False, timeout=120):
    """Take ``minion_id`` out of the cluster: drain and delete its Node object when the
    API is up, apply each of its formulas' ``clean`` states, delete its minion key, and
    with ``destroy=True`` destroy the machine with salt-cloud (``salt-cloud -d``).
    etcd members are not removed from the etcd cluster here (see vent.etcd_* runners)."""
    vent = _pillar()
    nodes = _nodes()
    if minion_id not in nodes:
        return _text(f"{minion_id}: unknown minion (not in the mine nor the grain cache)", 1)
    node = nodes[minion_id]
    roles = _roles(node, vent)
    lines, rc = [], 0
    ca = vent.get("pki", {}).get("ca_minion")
    hostname = node.get("hostname") or minion_id
    k = _Kubectl(ca, timeout=int(timeout))
    try:
        k.run(["get", "--raw=/readyz"], timeout=15)
        api_up = True
    except _Failed as exc:
        api_up = False
        lines.append(f"skip drain: API not reachable through {ca}: {exc}")
    if api_up and "compute" in roles:
        try:
            k.run(["drain", hostname, "--ignore-daemonsets", "--delete-emptydir-data",
                   f"--timeout={int(timeout)}s"], timeout=int(timeout) + 10)
            k.run(["delete", "node", hostname, "--ignore-not-found"])
            lines.append(f"ok drained and deleted node {hostname}")
        except _Failed as exc:
            lines.append(f"FAILED drain/delete node {hostname}: {exc}")
            rc = 1
    reachable = _cmd([minion_id], "test.ping", timeout=5).get(minion_id, (False, None))[1] is True
    if not reachable:
        lines.append(f"skip clean: {minion_id} does not answer")
    elif not _sync_vent_modules(minion_id, lines, timeout):
        rc = 1
    else:
        for role, formulas in CLEAN_ORDER:
            if role != "all" and role not in roles:
                continue
            for formula in formulas:
                res = _cmd([minion_id], "state.apply", [f"{formula}.clean"], timeout=int(timeout))
                ok, ret = res.get(minion_id, (False, "no answer"))
                if ok:
                    lines.append(f"ok {formula}.clean")
                else:
                    lines.append(f"FAILED {formula}.clean: {str(ret)[:300]}")
                    rc = 1
    if destroy:
        # Bound under another name: a plain `import salt.cloud` here would make `salt`
        # local to the function and break the key deletion below.
        import salt.cloud as salt_cloud

        cloud = salt_cloud.CloudClient(path=os.path.join(os.path.dirname(__opts__["conf_file"]), "cloud"))
        ret = cloud.destroy([minion_id])
        lines.append(f"salt-cloud -d {minion_id}: {json.dumps(ret, default=str)[:300]}")
    wheel = salt.wheel.WheelClient(__opts__)
    # print_event=False: its "{}" would land on the operator's screen above the report.
    wheel.cmd("key.delete", [minion_id], print_event=False)
    lines.append(f"ok deleted minion key {minion_id}")
    if not destroy:
        lines.append(f"machine kept; `salt-run vent.remove_node {minion_id} destroy=True` destroys it")
    return _text("\n".join(lines), rc)
