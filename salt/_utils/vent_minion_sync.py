"""How Vent's extension modules reach a minion: one job for the orchestration's
refresh step (vent_orch.refresh) and for vent.remove_node, which must render the
clean states on a minion that never went through that step; and what a minion has
synced against what the master would sync, so the refresh step syncs only when they
differ."""

import os

import salt.utils.hashutils

# Only the kinds Vent ships to minions (salt/_utils, salt/_modules, salt/_states):
# sync_all walks all 19 kinds, about 10 s a minion on a loaded 2-core host. Utils
# first: the modules use the cluster model through __utils__. One module refresh,
# waited for, ends the syncs, so the next job (the mine functions' first) runs the
# synced code; then the pillar refresh, where it is not done already.
KINDS = ("utils", "modules", "states")
_SYNCS = (
    *((f"saltutil.sync_{kind}", {"refresh": False}) for kind in KINDS),
    ("saltutil.refresh_modules", {"async": False}),
)
_PILLAR_REFRESH = ("saltutil.refresh_pillar", {"wait": True})
# A minion's answer to this says what it has synced; Salt's own syncs walk the master's
# files one request each, about 0.6 s a kind on the lab.
SYNCED = "vent_cluster.extension_files"


def _job(calls):
    return ([fun for fun, _ in calls], [[{**kwarg, "__kwarg__": True}] for _, kwarg in calls])


def job(pillar=True):
    """``(functions, args)`` of one multi-function job: the minion runs the calls in
    order in one process, one round trip to the master instead of one per call.
    ``pillar`` False leaves out the pillar refresh, for minions whose ``check_job``
    has just refreshed it (each refresh is a pillar compile on the master)."""
    return _job(_SYNCS + ((_PILLAR_REFRESH,) if pillar else ()))


def check_job():
    """``(functions, args)`` of the job that asks a minion what it has synced
    (``SYNCED``) and refreshes its pillar: all a refresh needs when nothing to sync
    changed. A minion without Vent's modules yet fails the first call, which reads as
    out of date."""
    return _job(((SYNCED, {}), _PILLAR_REFRESH))


def _paths(dirs):
    """``{"<kind>/<path>": file}`` of the files under ``dirs`` (``{kind: [dir, ...]}``),
    the first dir that holds a path winning as in Salt's roots fileserver; bytecode
    caches, which a minion writes itself, left out."""
    found = {}
    for kind, roots in dirs.items():
        for root in roots:
            for top, subdirs, names in os.walk(root):
                subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
                for name in sorted(n for n in names if not n.endswith(".pyc")):
                    path = os.path.join(top, name)
                    found.setdefault(f"{kind}/{os.path.relpath(path, root)}", path)
    return found


def files(dirs):
    """``{"<kind>/<path>": sha256}`` of the files under ``dirs`` (as ``_paths``)."""
    return {key: salt.utils.hashutils.get_hash(path, "sha256") for key, path in _paths(dirs).items()}


def synced(extension_modules):
    """What a minion has synced of ``KINDS`` (its ``extension_modules`` dir)."""
    return files({kind: [os.path.join(extension_modules, kind)] for kind in KINDS})


def _shipped_dirs(opts):
    """The master's directories of ``KINDS`` (``opts``: the master's); None when only a
    sync can tell what it brings (another fileserver backend, or more than the base
    environment)."""
    backends = opts.get("fileserver_backend") or ["roots"]
    if ([backends] if isinstance(backends, str) else list(backends)) != ["roots"]:
        return None
    roots = opts.get("file_roots") or {}
    if set(roots) != {"base"}:
        return None
    return {kind: [os.path.join(root, f"_{kind}") for root in roots["base"]] for kind in KINDS}


def shipped(opts):
    """What a sync of ``KINDS`` brings to a minion, read from the master's file roots:
    ``files``' digests, or None (see ``_shipped_dirs``)."""
    dirs = _shipped_dirs(opts)
    return None if dirs is None else files(dirs)


def shipped_files(opts):
    """The files a sync of ``KINDS`` writes under a minion's ``extension_modules``:
    ``{"<kind>/<path>": bytes}``, or None (see ``_shipped_dirs``). A new machine's
    deploy takes them along, so its minion starts in step with the master and the
    refresh step has nothing to sync."""
    dirs = _shipped_dirs(opts)
    if dirs is None:
        return None
    contents = {}
    for key, path in _paths(dirs).items():
        with open(path, "rb") as fh:
            contents[key] = fh.read()
    return contents
