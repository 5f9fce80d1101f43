"""States over the Kubernetes API: objects applied idempotently, and the API's health.

``vent_k8s.applied`` reports changes only for objects whose live state differed from
the manifest (see ``vent_k8s.apply_manifest``), so a second run is quiet.
"""

from __future__ import annotations

__virtualname__ = "vent_k8s"


def __virtual__():
    if "vent_k8s.apply_manifest" in __salt__:
        return __virtualname__
    return False, "the vent_k8s execution module is not loaded"


def applied(name, manifest=None, source=None, kubeconfig=None, kubectl=None, field_manager="vent"):
    """Every object in ``manifest`` (YAML text, a dict or a list) or in the file at
    ``source`` (a ``salt://`` URL or a local path) exists in the cluster as written.

    name
        A label for the set of objects (shown in the output).
    kubeconfig, kubectl
        Default: the admin kubeconfig and kubectl of the cluster model's paths.
    """
    return _objects(name, manifest, source, kubeconfig, kubectl, "apply_manifest",
                    ("apply", "applied"), "already as desired", field_manager=field_manager)


def absent(name, manifest=None, source=None, kubeconfig=None, kubectl=None):
    """No object of ``manifest`` (or of the file at ``source``) exists in the cluster:
    what ``applied`` put there, taken back. Arguments as for ``applied``."""
    return _objects(name, manifest, source, kubeconfig, kubectl, "delete_manifest",
                    ("delete", "deleted"), "already absent")


def _objects(name, manifest, source, kubeconfig, kubectl, fun, verbs, quiet, **kwargs):
    """``vent_k8s.<fun>`` over the objects of a manifest, as a state return; ``verbs``:
    what it would do and what it did, ``quiet``: what is true of objects left alone."""
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if (manifest is None) == (source is None):
        ret["comment"] = "give exactly one of manifest or source"
        return ret
    if source is not None:
        if source.startswith("salt://"):
            manifest = __salt__["cp.get_file_str"](source, saltenv=__env__)
            if manifest is False or manifest is None:
                ret["comment"] = f"{source} was not found on the master"
                return ret
        else:
            manifest = source
    paths = __salt__["vent_cluster.paths"]()
    kubectl = kubectl or paths["kubectl"]
    kubeconfig = kubeconfig or paths["admin_kubeconfig"]
    test = bool(__opts__.get("test"))
    try:
        out = __salt__[f"vent_k8s.{fun}"](manifest, kubeconfig, kubectl=kubectl, test=test, **kwargs)
    except Exception as exc:  # noqa: BLE001 (any failure of kubectl or parsing)
        ret["comment"] = f"{name}: {exc}"
        return ret
    changed = out["changes"]
    if not changed:
        ret["result"] = True
        ret["comment"] = f"{name}: {len(out['unchanged'])} object(s) {quiet}"
        return ret
    summary = ", ".join(f"{oid} ({c['action']})" for oid, c in changed.items())
    if test:
        ret["result"] = None
        ret["comment"] = f"{name}: would {verbs[0]} {summary}"
    else:
        ret["result"] = True
        ret["comment"] = f"{name}: {verbs[1]} {summary}"
    ret["changes"] = changed
    return ret


def api_healthy(name, ca_file, timeout=None, paths=("/livez", "/readyz")):
    """The API server at ``name`` (a URL) answers ``ok`` on ``paths`` within
    ``timeout`` seconds (default vent:kubernetes:ready_timeout), verified against
    ``ca_file``. Makes no changes."""
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    timeout = timeout or __salt__["vent_cluster.ready_timeout"]()
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"would wait up to {timeout}s for {name} {', '.join(paths)}"
        return ret
    out = __salt__["vent_k8s.wait_healthy"](name, ca_file, timeout=timeout, paths=list(paths))
    detail = "; ".join(f"{p}: {s}" for p, s in out["status"].items())
    if out["ok"]:
        ret["result"] = True
        ret["comment"] = f"{name} healthy after {out['elapsed']}s ({detail})"
    else:
        ret["comment"] = f"{name} not healthy within {timeout}s ({detail})"
    return ret


def rolled_out(name, kind, namespace, timeout=None, kubeconfig=None, kubectl=None):
    """The ``kind`` (Deployment or DaemonSet) ``namespace/name`` runs its current spec
    on every pod it wants, each available, within ``timeout`` seconds (default
    vent:kubernetes:ready_timeout): what the objects applied before it serve, not
    only that they were accepted. Makes no changes."""
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    timeout = timeout or __salt__["vent_cluster.ready_timeout"]()
    what = f"{kind} {namespace}/{name}"
    if __opts__.get("test"):
        ret["result"] = None
        ret["comment"] = f"would wait up to {timeout}s for {what} to roll out"
        return ret
    paths = __salt__["vent_cluster.paths"]()
    try:
        out = __salt__["vent_k8s.wait_rolled_out"](
            kind, name, namespace, kubeconfig or paths["admin_kubeconfig"],
            kubectl=kubectl or paths["kubectl"], timeout=timeout)
    except Exception as exc:  # noqa: BLE001 (any failure of kubectl or parsing)
        ret["comment"] = f"{what}: {exc}"
        return ret
    ret["result"] = out["ok"]
    ret["comment"] = (f"rolled out after {out['elapsed']}s ({out['detail']})" if out["ok"]
                      else f"not rolled out within {timeout}s ({out['detail']})")
    return ret
