"""The one way a formula installs a pinned release file.

``vent_artifact.installed`` takes a file of ``vent:artifacts:releases`` and puts its
binaries into place, verified against the checksum the cluster model gives (published,
or the one `./vent artifacts build` recorded for a file it built): a plain binary with
``file.managed``, an archive unpacked once per version with the wanted members linked.
Every formula says "missing" the same way, naming the pillar key, version, mirror path
and what fills the mirror.
"""

from __future__ import annotations

import json
import os
import tempfile

__virtualname__ = "vent_artifact"


def __virtual__():
    if "vent_cluster.artifact" in __salt__:
        return __virtualname__
    return False, "the vent_cluster execution module is not loaded"


def _ret(name, result=False, comment="", changes=None):
    return {"name": name, "result": result, "comment": comment, "changes": changes or {}}


def _verified_file():
    return os.path.join(__opts__["cachedir"], "vent_artifact", "verified.json")


def _verified():
    try:
        with open(_verified_file(), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _record(path, source_hash, stamp):
    """Remember that ``path``, as ``stat`` saw it (``stamp``), had ``source_hash``."""
    verified = _verified()
    verified[path] = {"source_hash": source_hash, "stamp": stamp}
    os.makedirs(os.path.dirname(_verified_file()), exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(_verified_file()), delete=False) as fh:
        json.dump(verified, fh)
    os.replace(fh.name, _verified_file())


def _stamp(path):
    st = os.stat(path)
    # Any write or chmod moves ctime, which no system call sets directly: an unchanged
    # stamp means the bytes hashed last time are still the bytes in place.
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _hash_ok(path, art):
    """``path`` holds the release file. It is hashed only when new or changed since
    it last matched: hashing every binary on every run cost up to 0.4 s a state, and
    it kept some 300 MiB of binaries in each node's active page cache."""
    if not os.path.isfile(path):
        return False
    stamp = _stamp(path)
    if _verified().get(path) == {"source_hash": art["source_hash"], "stamp": stamp}:
        return True
    if __salt__["file.get_hash"](path, art["hash_type"]) != art["source_hash"].split("=", 1)[1]:
        return False
    _record(path, art["source_hash"], stamp)
    return True


def _merge(ret, sub, key):
    if sub.get("changes"):
        ret["changes"][key] = sub["changes"]
    if sub["result"] is False:
        ret["result"] = False
    elif sub["result"] is None and ret["result"] is not False:
        ret["result"] = None


def installed(name, component, file, bin_dir, members=None, unpack_root=None, mode="0755"):
    """The binaries of release file ``file`` of ``component`` are in ``bin_dir``.

    members
        For an archive: the base names of the members to link into ``bin_dir``
        (default: all the release lists).
    unpack_root
        Archives are unpacked into ``<unpack_root>/<component>/<version>``, once per
        version, so a later apply needs neither mirror nor network (default:
        vent:artifacts:unpack_root).
    """
    art = __salt__["vent_cluster.artifact"](component, file)
    label = f"{art['key']} {art['version']}"
    if not art["members"]:
        target = os.path.join(bin_dir, file)
        if _hash_ok(target, art):  # in place: only its mode and owner to check
            sub = __states__["file.managed"](name=target, replace=False, mode=mode, user="root", group="root")
        else:
            missing = __salt__["vent_cluster.artifact_missing"](component, file)
            if missing:
                return _ret(name, False, missing)
            sub = __states__["file.managed"](name=target, source=art["sources"],
                                             source_hash=art["source_hash"], mode=mode, user="root",
                                             group="root", makedirs=True)
        ret = _ret(name, True, f"{label}: {target} ({art['origin']} checksum)")
        _merge(ret, sub, target)
        if sub["result"] is False:
            ret["comment"] = (f"could not install {label} from {' or '.join(art['sources'])} "
                              f"({art['source_hash']}): {sub['comment']}")
        return ret

    unpack_root = unpack_root or __salt__["vent_cluster.paths"]()["unpack_root"]
    unpack_dir = f"{unpack_root}/{component}/{art['version']}"
    paths = {m.rsplit("/", 1)[-1]: m[2:] if m.startswith("./") else m for m in art["members"]}
    wanted = list(members) if members else list(paths)
    unknown = sorted(set(wanted) - set(paths))
    if unknown:
        return _ret(name, False, f"{label}: {', '.join(unknown)} not among the archive's members "
                                 f"({', '.join(sorted(paths))}; {art['key']}:members)")
    first = os.path.join(unpack_dir, paths[wanted[0]])
    missing = __salt__["vent_cluster.artifact_missing"](component, file, installed=first)
    if missing:
        return _ret(name, False, missing)
    ret = _ret(name, True, f"{label}: {', '.join(wanted)} in {bin_dir} ({art['origin']} checksum)")
    sub = __states__["archive.extracted"](name=unpack_dir, source=art["sources"],
                                          source_hash=art["source_hash"], enforce_toplevel=False,
                                          trim_output=True, if_missing=first)
    _merge(ret, sub, unpack_dir)
    if sub["result"] is False:
        ret["comment"] = (f"could not unpack {label} from {' or '.join(art['sources'])} "
                          f"({art['source_hash']}): {sub['comment']}")
        return ret
    for base in wanted:
        link = os.path.join(bin_dir, base)
        sub = __states__["file.symlink"](name=link, target=os.path.join(unpack_dir, paths[base]),
                                         makedirs=True, force=True)
        _merge(ret, sub, link)
        if sub["result"] is False:
            ret["comment"] = f"{label}: linking {link}: {sub['comment']}"
    return ret


def available(name, files):
    """Every ``[component, file]`` can be had (mirror, download, or already unpacked):
    fails naming each one that cannot, and changes nothing. Put it before the installs
    with ``failhard`` so a run stops before anything is touched."""
    missing = __salt__["vent_cluster.artifacts_missing"](files)
    if missing:
        return _ret(name, False, "; ".join(missing))
    return _ret(name, True, f"{len(files)} release file(s) available")


def removed(name, component, file, bin_dir, members=None, unpack_root=None):
    """The counterpart of ``installed``: the binaries (links) and the unpacked version
    are gone. The mirror is never touched."""
    art = __salt__["vent_cluster.artifact"](component, file)
    ret = _ret(name, True, f"{art['key']} {art['version']} removed from {bin_dir}")
    if not art["members"]:
        targets = [os.path.join(bin_dir, file)]
    else:
        bases = list(members) if members else [m.rsplit("/", 1)[-1] for m in art["members"]]
        targets = [os.path.join(bin_dir, b) for b in bases]
        unpack_root = unpack_root or __salt__["vent_cluster.paths"]()["unpack_root"]
        targets.append(f"{unpack_root}/{component}/{art['version']}")
    for path in targets:
        _merge(ret, __states__["file.absent"](name=path), path)
    return ret
