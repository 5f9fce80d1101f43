"""``salt-run vent.smoke``: the original project's validation of a running cluster,
as checks run in order through kubectl on the CA controller. Stops at the first
failure and names it; removes what it created either way."""

from __future__ import annotations

import json
import time
import urllib.request

from salt.exceptions import CommandExecutionError

__virtualname__ = "vent"

SMOKE_NS = "vent-smoke"


def __virtual__():
    return __virtualname__


def _ops(fun, *args, **kwargs):
    return __utils__[f"vent_ops.{fun}"](*args, **kwargs)


def _model(fun, *args, **kwargs):
    return __utils__[f"vent_model.{fun}"](*args, **kwargs)


def _nodes():
    return _ops("nodes", __salt__["mine.get"]("*", "vent_node"), __salt__["cache.grains"](tgt="*"))


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
    vent = __salt__["pillar.show_pillar"]()["vent"]
    nodes = _nodes()
    paths = _model("paths", vent)
    ca = _model("ca_minion", vent)
    image = _model("image", vent, "agnhost")
    k = _ops("kubectl", ca, paths)
    deadline = time.monotonic() + float(timeout)
    passed = []
    compute = [(nodes[m].get("hostname") or m) for m in _model("compute", nodes, vent)]

    def wait(what, probe):
        last = None
        while time.monotonic() < deadline:
            try:
                last = probe()
                if last is True:
                    return
            except CommandExecutionError as exc:
                last = str(exc)
            time.sleep(3)
        raise CommandExecutionError(f"{what}: {last}")

    def api():
        ready = _ops("api_ready", [ca], _model("local_api", vent), paths["ca_cert"]).get(ca)
        if ready != "ready":
            raise CommandExecutionError(f"API not reachable through {ca}: {ready}")

    def nodes_ready():
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
        if len(compute) < 2:
            raise CommandExecutionError(f"needs two schedulable nodes, found {len(compute)}")
        k.run(["create", "namespace", SMOKE_NS])
        manifest = {"apiVersion": "v1", "kind": "List", "items": [
            _pod("smoke-server", compute[0], image, ["netexec", "--http-port=8080"]),
            _pod("smoke-client", compute[1], image, ["pause"]),
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
            raise CommandExecutionError(f"unexpected answer {out!r}")

    def secret_encrypted():
        k.run(["-n", SMOKE_NS, "create", "secret", "generic", "smoke-secret", "--from-literal=k=v"])
        endpoints = ",".join(_model("etcd_client_urls", vent, nodes))
        pki = paths["pki"]
        ret = k.sh(
            f"ETCDCTL_API=3 etcdctl --endpoints={endpoints} --cacert={paths['ca_cert']} "
            f"--cert={pki}/apiserver-etcd-client.crt --key={pki}/apiserver-etcd-client.key "
            f"get /registry/secrets/{SMOKE_NS}/smoke-secret --print-value-only | head -c 40 "
            "| tr -c '[:print:]' '?'"
        )
        head = ret.get("stdout", "")
        if not head.startswith("k8s:enc:"):
            raise CommandExecutionError(f"etcd holds the secret as {head[:20]!r}..., not k8s:enc:<provider>")
        state["prefix"] = head.split("?")[0][:30]

    def nodeport():
        k.run(["-n", SMOKE_NS, "create", "deployment", "echoserver", f"--image={image}",
               "--", "/agnhost", "netexec", "--http-port=8080"])
        k.run(["-n", SMOKE_NS, "expose", "deployment", "echoserver", "--type=NodePort", "--port=8080"])
        svc = k.json(["-n", SMOKE_NS, "get", "service", "echoserver"])
        port = svc["spec"]["ports"][0]["nodePort"]
        addresses = [nodes[m]["public_ip"] for m in _model("compute", nodes, vent)
                     if nodes[m].get("public_ip")]
        if not addresses:
            raise CommandExecutionError("no worker has a public IP in the mine")
        url = f"http://{addresses[0]}:{port}/hostname"

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
            except CommandExecutionError as exc:
                failed = f"FAILED {name}: {exc}"
                break
            passed.append(f"ok {name}")
    finally:
        if any(p == "ok pods-across-nodes" for p in passed) or (failed and "pods-across-nodes" in failed):
            try:
                k.run(["delete", "namespace", SMOKE_NS, "--wait=false", "--ignore-not-found"])
            except CommandExecutionError as exc:
                passed.append(f"cleanup: {exc}")
    lines = passed + ([failed] if failed else [])
    return _ops("text", "\n".join(lines), 1 if failed else 0)
