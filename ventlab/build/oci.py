"""OCI images written directly as an image-layout archive (what ``skopeo copy
oci-archive:`` reads): one layer from a file tree, a config, a manifest, an index.

The bytes depend only on the inputs (sorted entries, fixed times and owners, gzip
without a timestamp), so an unchanged build gives the same digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG = "application/vnd.oci.image.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def _info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def layer_tar(tree: dict[str, object]) -> bytes:
    """A layer from ``{path: source}``: a Path (file copied, mode kept), ``"->target"``
    (symlink) or ``None`` (directory). Parent directories are added as needed."""
    entries: dict[str, object] = {}
    for path, source in tree.items():
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), None)
        entries["/".join(parts)] = source
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            source = entries[name]
            if source is None:
                tar.addfile(_info(name, tarfile.DIRTYPE, 0o755))
            elif isinstance(source, str) and source.startswith("->"):
                tar.addfile(_info(name, tarfile.SYMTYPE, 0o777, link=source[2:]))
            else:
                src = Path(source)
                data = src.read_bytes()
                mode = src.stat().st_mode & 0o7777
                tar.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
    return raw.getvalue()


def _blob(layout: tarfile.TarFile, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    layout.addfile(_info(f"blobs/sha256/{digest}", tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def write_image(out: Path, ref: str, tree: dict[str, object], *, arch: str, entrypoint: list[str],
                cmd: list[str] | None = None, user: str = "", env: list[str] | None = None) -> str:
    """Write an oci-archive for image ``ref`` (``name:tag``) to ``out``; returns the
    manifest digest, which is what a registry and a digest-pinned pod name."""
    raw = layer_tar(tree)
    packed = gzip.compress(raw, compresslevel=6, mtime=0)
    config = {
        "architecture": arch, "os": "linux",
        "config": {"Entrypoint": entrypoint, "Cmd": cmd or [], "User": user,
                   "Env": env or ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created_by": "vent artifacts build"}],
    }
    tag = ref.rsplit(":", 1)[1]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as layout:
        layer = _blob(layout, packed, LAYER)
        conf = _blob(layout, json.dumps(config, sort_keys=True).encode(), CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "config": conf, "layers": [layer]}
        desc = _blob(layout, json.dumps(manifest, sort_keys=True).encode(), MANIFEST)
        desc["platform"] = {"architecture": arch, "os": "linux"}
        desc["annotations"] = {"org.opencontainers.image.ref.name": tag,
                               "io.containerd.image.name": ref}
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [desc]}
        for name, data in (("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'),
                           ("index.json", json.dumps(index, sort_keys=True).encode())):
            layout.addfile(_info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return desc["digest"]
