"""A tiny OCI image built in Python: busybox-static as its only layer, with the
index, manifest and config written here. Shared by the tests that run containers
(tests/test_containerd_run.py on the host, tests/test_lab_e2e.py in lab machines)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
IMAGE = "vent.test/busybox:1"


def _blob(layout: tarfile.TarFile, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    layout.addfile(info, io.BytesIO(data))
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def build_oci_image(path: Path, image: str = IMAGE) -> None:
    """An OCI image layout tarball whose only layer holds a static busybox."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as layer:
        for name in ("bin", "proc", "sys", "dev", "tmp"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            layer.addfile(info)
        layer.add(str(BUSYBOX), arcname="bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        layer.addfile(link)
    raw_bytes = raw.getvalue()
    gz = gzip.compress(raw_bytes, mtime=0)
    with tarfile.open(path, "w") as layout:
        layer_desc = _blob(layout, gz, "application/vnd.oci.image.layer.v1.tar+gzip")
        config = {
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/bin/busybox", "echo", "vent-oci-ok"]},
            "rootfs": {"type": "layers",
                       "diff_ids": ["sha256:" + hashlib.sha256(raw_bytes).hexdigest()]},
        }
        config_desc = _blob(layout, json.dumps(config).encode(),
                            "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_desc, "layers": [layer_desc]}
        manifest_desc = _blob(layout, json.dumps(manifest).encode(),
                              "application/vnd.oci.image.manifest.v1+json")
        manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
        manifest_desc["annotations"] = {"io.containerd.image.name": image,
                                        "org.opencontainers.image.ref.name": "1"}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [manifest_desc]}
        for name, data in (("index.json", json.dumps(index).encode()),
                           ("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            layout.addfile(info, io.BytesIO(data))
