"""``salt-run vent.smoke``: the original project's validation of a running cluster, as
checks run in order through kubectl on the CA controller (no credential leaves it).

A Deployment of agnhost across the schedulable nodes, its logs, exec, pod-to-pod
traffic between nodes, a Service by ClusterIP and by name, cluster DNS, port-forward,
a NodePort on a node's private address, and a Secret read straight from etcd to show
it is encrypted at rest. Stops at the first failure and names it; removes what it
created either way. Every wait is bounded by ``timeout``.
"""

from __future__ import annotations

import json
import shlex
import time

from salt.exceptions import CommandExecutionError

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs, or the modules synced from it
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


__virtualname__ = "vent"

SMOKE_NS = "vent-smoke"
PORT = 8080


def __virtual__():
    _util("vent_ops.quiet_cli_leaks")()
    return __virtualname__


def _ops(fun, *args, **kwargs):
    return _util(f"vent_ops.{fun}")(*args, **kwargs)


def _model(fun, *args, **kwargs):
    return _util(f"vent_model.{fun}")(*args, **kwargs)


def _nodes():
    return _ops("cluster_nodes", __opts__)


def _objects(image, hosts):
    """The Deployment (one replica per schedulable node, spread), its Service
    (NodePort) and a client pod on the first node."""
    labels = {"app": "smoke-echo"}
    return {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "smoke-echo", "namespace": SMOKE_NS},
         "spec": {"replicas": len(hosts), "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "topologySpreadConstraints": [{
                          "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                          "whenUnsatisfiable": "DoNotSchedule",
                          "labelSelector": {"matchLabels": labels}}],
                      "containers": [{"name": "echo", "image": image,
                                      "args": ["netexec", f"--http-port={PORT}"],
                                      "ports": [{"containerPort": PORT}],
                                      "readinessProbe": {
                                          "httpGet": {"path": "/hostname", "port": PORT},
                                          "periodSeconds": 1}}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "smoke-echo", "namespace": SMOKE_NS},
         "spec": {"type": "NodePort", "selector": labels, "ports": [{"port": PORT, "targetPort": PORT}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "smoke-client", "namespace": SMOKE_NS},
         "spec": {"nodeName": hosts[0], "terminationGracePeriodSeconds": 0,
                  "containers": [{"name": "client", "image": image, "args": ["pause"]}]}},
    ]}


class _Smoke:
    def __init__(self, timeout):
        self.vent = __salt__["pillar.show_pillar"]()["vent"]
        self.nodes = _nodes()
        self.paths = _model("paths", self.vent)
        self.ca = _model("ca_minion", self.vent)
        self.k = _ops("kubectl", self.ca, self.paths)
        self.deadline = time.monotonic() + float(timeout)
        compute = _model("compute", self.nodes, self.vent)
        self.hosts = sorted((self.nodes[m].get("hostname") or m) for m in compute)
        self.domain = self.vent["cluster"]["domain"]
        self.state = {}

    def wait(self, what, probe):
        last = None
        while time.monotonic() < self.deadline:
            try:
                last = probe()
                if last is True:
                    return
            except CommandExecutionError as exc:
                last = str(exc)
            time.sleep(1)
        raise CommandExecutionError(f"{what}: {last} (gave up after the smoke test's timeout)")

    def client(self, *argv):
        return self.k.run(["-n", SMOKE_NS, "exec", "smoke-client", "--", *argv], timeout=30).strip()

    def http_get(self, host):
        """GET /hostname from the client pod (busybox nc: the image's userland)."""
        request = "printf 'GET /hostname HTTP/1.0\\r\\n\\r\\n'"
        reply = self.client("sh", "-c", f"{request} | nc -w 5 {host} {PORT}")
        return reply.splitlines()[-1].strip() if reply else ""

    # --- the checks, in order ----------------------------------------------------------

    def api(self):
        local = _model("local_api", self.vent)
        ready = _ops("api_ready", [self.ca], local, self.paths["ca_cert"]).get(self.ca)
        if ready != "ready":
            raise CommandExecutionError(f"API not reachable through {self.ca}: {ready}")

    def nodes_ready(self):
        def probe():
            items = self.k.json(["get", "nodes"]).get("items", [])
            ready = {i["metadata"]["name"] for i in items if _model("is_ready", i)}
            missing = [h for h in self.hosts if h not in ready]
            return True if not missing else f"not Ready: {', '.join(missing)}"

        if not self.hosts:
            raise CommandExecutionError("no schedulable node (role worker, or controllers_schedulable)")
        self.wait("nodes Ready", probe)

    def pods_ready(self, label, what):
        def probe():
            items = self.k.json(["get", "pods", "-A", "-l", label]).get("items", [])
            ready = [i for i in items if _model("is_ready", i)]
            done = items and len(ready) == len(items)
            return True if done else f"{len(ready)}/{len(items)} {what} pods Ready"

        self.wait(f"{what} pods Ready", probe)

    def deployment(self):
        if len(self.hosts) < 2:
            raise CommandExecutionError(f"needs two schedulable nodes, found {len(self.hosts)}")
        self.k.run(["create", "namespace", SMOKE_NS])
        objects = _objects(_model("image", self.vent, "agnhost"), self.hosts)
        self.k.run(["apply", "-f", "-"], stdin=json.dumps(objects))
        want = len(self.hosts) + 1

        def probe():
            pods = self.k.json(["-n", SMOKE_NS, "get", "pods"]).get("items", [])
            ready = [p for p in pods if _model("is_ready", p)]
            return True if len(ready) == want else f"{len(ready)}/{want} pods Ready"

        self.wait("smoke pods Ready", probe)
        pods = self.k.json(["-n", SMOKE_NS, "get", "pods", "-l", "app=smoke-echo"])["items"]
        echo = {p["spec"]["nodeName"]: (p["metadata"]["name"], p["status"]["podIP"]) for p in pods}
        self.state["echo"] = echo
        if set(echo) != set(self.hosts):
            raise CommandExecutionError(f"replicas landed on {sorted(echo)}, not on each of {self.hosts}")

    def logs(self):
        name = next(iter(self.state["echo"].values()))[0]
        out = self.k.run(["-n", SMOKE_NS, "logs", name])
        if "Started HTTP server" not in out:
            raise CommandExecutionError(f"{name} logs lack netexec's start line: {out[-200:]!r}")

    def exec_(self):
        if self.client("hostname") != "smoke-client":
            raise CommandExecutionError("exec in smoke-client did not run there")

    def pod_to_pod(self):
        for node, (name, ip) in sorted(self.state["echo"].items()):
            answer = self.http_get(ip)
            if answer != name:
                raise CommandExecutionError(f"{ip} on {node} answered {answer!r}, not {name}")

    def service(self):
        svc = self.k.json(["-n", SMOKE_NS, "get", "service", "smoke-echo"])
        self.state["nodeport"] = svc["spec"]["ports"][0]["nodePort"]
        names = {n for n, _ in self.state["echo"].values()}
        for target in (svc["spec"]["clusterIP"], f"smoke-echo.{SMOKE_NS}.svc.{self.domain}"):
            # kube-proxy programs a new Service a moment after its endpoints are ready.
            self.wait(f"service {target} answering",
                      lambda t=target: self.http_get(t) in names or "no answer")
            seen = {self.http_get(target) for _ in range(6)}
            if not seen <= names or not seen:
                raise CommandExecutionError(f"service {target} answered {seen}, not from {names}")

    def dns(self):
        name = f"kubernetes.default.svc.{self.domain}"
        out = self.client("nslookup", name)
        api_ip = _model("api_service_ip", self.vent)
        if f"Address: {api_ip}" not in out:
            raise CommandExecutionError(f"{name} resolved to {out!r}, not {api_ip}")
        server = _model("dns_ip", self.vent)
        if f"Server:\t\t{server}" not in out and f"Server: {server}" not in out:
            raise CommandExecutionError(f"the answer came from {out.splitlines()[:1]}, "
                                        f"not the cluster DNS {server}")

    def port_forward(self):
        name = next(iter(self.state["echo"].values()))[0]
        script = (f"{self.k.base} -n {SMOKE_NS} port-forward pod/{name} 18080:{PORT} >/dev/null 2>&1 & "
                  "pf=$!; for i in 1 2 3 4 5 6 7 8 9 10; do "
                  "curl -sf --max-time 2 http://127.0.0.1:18080/hostname && break; sleep 0.5; done; kill $pf")
        out = self.k.sh(script, timeout=30).get("stdout", "").strip()
        if out != name:
            raise CommandExecutionError(f"port-forward to {name} answered {out!r}")

    def nodeport(self):
        for minion in _model("compute", self.nodes, self.vent):
            ip = self.nodes[minion].get("private_ip")
            url = f"http://{ip}:{self.state['nodeport']}/hostname"
            ret = self.k.sh(f"curl -sf --max-time 5 {shlex.quote(url)}", timeout=15)
            if ret.get("retcode") or not ret.get("stdout"):
                why = ret.get("stderr") or "no answer"
                raise CommandExecutionError(f"NodePort {url} (from {self.ca}): {why}")

    def secret_encrypted(self):
        self.k.run(["-n", SMOKE_NS, "create", "secret", "generic", "smoke-secret",
                    "--from-literal=k=vent-plain"])
        pki = self.paths["pki"]
        endpoints = ",".join(_model("etcd_client_urls", self.vent, self.nodes))
        ret = self.k.sh(
            f"ETCDCTL_API=3 etcdctl --endpoints={endpoints} "
            f"--cacert={self.paths['etcd_ca_cert']} --cert={pki}/apiserver-etcd-client.crt "
            f"--key={pki}/apiserver-etcd-client.key get /registry/secrets/{SMOKE_NS}/smoke-secret "
            "--print-value-only | head -c 40 | tr -c '[:print:]' '?'")
        head = ret.get("stdout", "")
        provider = self.vent["encryption"]["provider"]
        if not head.startswith(f"k8s:enc:{provider}:v1:") or "vent-plain" in head:
            raise CommandExecutionError(f"etcd holds the secret as {head[:24]!r}..., "
                                        f"not k8s:enc:{provider}:v1:")


def smoke(timeout=180):
    """The original project's validation, as checks run in order; stops at the first
    failure and names it, removes what it created either way."""
    s = _Smoke(timeout)
    checks = [
        ("api", s.api),
        ("nodes-ready", s.nodes_ready),
        ("flannel-pods", lambda: s.pods_ready("app=flannel", "flannel")),
        ("dns-pods", lambda: s.pods_ready("k8s-app=kube-dns", "DNS")),
        ("deployment-across-nodes", s.deployment),
        ("logs", s.logs),
        ("exec", s.exec_),
        ("pod-to-pod", s.pod_to_pod),
        ("service", s.service),
        ("dns-resolves-kubernetes", s.dns),
        ("port-forward", s.port_forward),
        ("nodeport-on-private-addresses", s.nodeport),
        ("secret-encrypted-at-rest", s.secret_encrypted),
    ]
    passed, failed = [], None
    try:
        for name, check in checks:
            try:
                check()
            except CommandExecutionError as exc:
                failed = f"FAILED {name}: {exc}"
                break
            passed.append(f"ok {name}")
    finally:
        if passed:  # the API answered, so checks may have made objects: remove them
            try:
                s.k.run(["delete", "namespace", SMOKE_NS, "--ignore-not-found", "--wait=true",
                         f"--timeout={int(max(10, s.deadline - time.monotonic()))}s"], timeout=120)
                passed.append("ok cleanup")
            except CommandExecutionError as exc:
                passed.append(f"cleanup: {exc}")
    lines = passed + ([failed] if failed else [])
    return _ops("text", "\n".join(lines), 1 if failed else 0)
