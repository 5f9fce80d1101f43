"""The one way a formula installs a pinned release file.

``vent_artifact.installed`` takes a file of ``vent:artifacts:releases`` and puts its
binaries into place, verified against the checksum the cluster model gives (published,
or the one `./vent artifacts build` recorded for a file it built): a plain binary
copied into place, an archive unpacked once per version with the wanted members linked.
Every formula says "missing" the same way, naming the pillar key, version, mirror path
and what fills the mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
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


def _checksum(art):
    """The pinned hex digest (``source_hash`` is ``<hash_type>=<hex>``)."""
    return art["source_hash"].split("=", 1)[1]


def _member_path(name):
    """An archive member's path as the release lists it, without a leading ``./``."""
    return name[2:] if name.startswith("./") else name


def _hash_ok(path, art):
    """``path`` holds the release file. It is hashed only when new or changed since
    it last matched: hashing every binary on every run cost up to 0.4 s a state, and
    it kept some 300 MiB of binaries in each node's active page cache."""
    if not os.path.isfile(path):
        return False
    stamp = _stamp(path)
    if _verified().get(path) == {"source_hash": art["source_hash"], "stamp": stamp}:
        return True
    if __salt__["file.get_hash"](path, art["hash_type"]) != _checksum(art):
        return False
    _record(path, art["source_hash"], stamp)
    return True


def _source(art):
    """``(path, downloaded)``: a local path of the release file, the mirror file in
    place, else the first source the minion can cache (then ``downloaded``)."""
    for source in art["sources"]:
        if source.startswith("file://"):
            if os.path.isfile(source[len("file://"):]):
                return source[len("file://"):], False
        else:
            cached = __salt__["cp.cache_file"](source)
            if cached:
                return cached, True
    raise ValueError("no source could be had")


def _mismatch(path, downloaded, art, got):
    if downloaded:  # fetched again next run, not trusted from the cache
        os.remove(path)
    return ValueError(f"{path} does not match the pinned hash: it has {art['hash_type']} {got}")


def _fetched(art):
    """``_source``, its checksum verified."""
    path, downloaded = _source(art)
    got = __salt__["file.get_hash"](path, art["hash_type"])
    if got != _checksum(art):
        raise _mismatch(path, downloaded, art, got)
    return path


def _copied(art, target, mode):
    """Put the release file in place as ``target`` (root's, ``mode``): hashed as it is
    copied beside the target, renamed over it only when the hash matches, and
    remembered as verified so the next run does not read it again. Written in the
    same 16 KiB pieces as ``_unpack`` (see there)."""
    path, downloaded = _source(art)
    digest = hashlib.new(art["hash_type"])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".vent-")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as out:
            for chunk in iter(lambda: src.read(16 << 10), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != _checksum(art):
            raise _mismatch(path, downloaded, art, digest.hexdigest())
        os.chown(tmp, 0, 0)
        os.chmod(tmp, int(str(mode), 8))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    _record(target, art["source_hash"], _stamp(target))


GZIP_MAGIC = b"\x1f\x8b"


@contextlib.contextmanager
def _tar_stream(archive):
    """The tar members of ``archive``, in order. A gzip archive is decompressed by
    isal's igzip where the node has it (the node formula installs it): less than half
    the CPU of Python's zlib on the release archives, about 0.3 s of a worker's deploy.
    Else tarfile reads it itself. The archive's checksum was verified before."""
    igzip = shutil.which("igzip")
    with open(archive, "rb") as fh:
        gzipped = fh.read(len(GZIP_MAGIC)) == GZIP_MAGIC
    if not (igzip and gzipped):
        with tarfile.open(archive, "r:*") as tar:
            yield tar
        return
    proc = subprocess.Popen([igzip, "-dc", archive], stdout=subprocess.PIPE,  # noqa: S603
                            stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            yield tar
    except tarfile.TarError as err:
        proc.kill()
        why = proc.communicate()[1].decode(errors="replace").strip() or "no message"
        raise ValueError(f"{archive} could not be read: {err} (igzip: {why})") from err
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()  # stopped at the last member wanted: the rest is not needed
        proc.communicate()


def _unpack(archive, unpack_dir, members):
    """Write ``members`` (paths in the archive, as the release lists them) of
    ``archive`` into ``unpack_dir`` in one pass that stops at the last of them:
    listing the archive first, as archive.extracted does, decompressed each archive
    twice (1.2 s of a worker's CPU per deploy). Only those regular files are written,
    owned by root with the archive's permission bits less group and other write; the
    directory appears whole or not at all, so a run cut short is redone."""
    wanted = set(members)
    for path in wanted:
        if os.path.isabs(path) or os.path.normpath(path) != path or path.startswith(".."):
            raise ValueError(f"member {path!r} is not a plain relative path")
    parent = os.path.dirname(unpack_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".unpack-")
    try:
        with _tar_stream(archive) as tar:
            for member in tar:
                path = _member_path(member.name)
                if path not in wanted:
                    continue
                if not member.isfile():
                    raise ValueError(f"{path} is not a regular file in the archive")
                dest = os.path.join(tmp, path)
                os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
                with tar.extractfile(member) as src, open(dest, "wb") as out:
                    # tarfile's own 16 KiB: with 1 MiB writes a 6.18 kernel cached the
                    # binaries in large folios, and each run of them then kept whole
                    # megabytes active (+15 MiB of a lab worker's working set).
                    shutil.copyfileobj(src, out, 16 << 10)
                os.chmod(dest, member.mode & 0o755)
                wanted.discard(path)
                if not wanted:
                    break
        if wanted:
            raise ValueError(f"the archive lacks {', '.join(sorted(wanted))}")
        os.chmod(tmp, 0o755)  # noqa: S103 -- as any binary directory: others run these tools
        if os.path.isdir(unpack_dir):  # an earlier unpack that lacks a member
            shutil.rmtree(unpack_dir)
        os.rename(tmp, unpack_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _merge(ret, sub, key):
    if sub.get("changes"):
        ret["changes"].setdefault(key, {}).update(sub["changes"])
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
        ret = _ret(name, True, f"{label}: {target} ({art['origin']} checksum)")
        if not _hash_ok(target, art):
            missing = __salt__["vent_cluster.artifact_missing"](component, file)
            if missing:
                return _ret(name, False, missing)
            ret["changes"][target] = {"installed": label}
            if __opts__["test"]:
                ret["result"] = None
                return ret
            try:
                _copied(art, target, mode)
            except (OSError, ValueError) as exc:
                return _ret(name, False, f"could not install {label} from "
                                         f"{' or '.join(art['sources'])} ({art['source_hash']}): {exc}")
        # in place: only its mode and owner to check
        sub = __states__["file.managed"](name=target, replace=False, mode=mode, user="root", group="root")
        _merge(ret, sub, target)
        if sub["result"] is False:
            ret["comment"] = f"{label}: {target}: {sub['comment']}"
        return ret

    unpack_root = unpack_root or __salt__["vent_cluster.paths"]()["unpack_root"]
    unpack_dir = f"{unpack_root}/{component}/{art['version']}"
    paths = {m.rsplit("/", 1)[-1]: _member_path(m) for m in art["members"]}
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
    if not os.path.exists(first):
        if __opts__["test"]:
            ret["result"] = None
            ret["changes"][unpack_dir] = {"unpacked": sorted(paths.values())}
        else:
            try:
                _unpack(_fetched(art), unpack_dir, paths.values())
            except (OSError, tarfile.TarError, ValueError) as exc:
                return _ret(name, False, f"could not unpack {label} from "
                                         f"{' or '.join(art['sources'])} ({art['source_hash']}): {exc}")
            ret["changes"][unpack_dir] = {"unpacked": sorted(paths.values())}
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
