"""The lab's container image registry: Debian's docker-registry (distribution) on the
lab bridge, serving the images `./vent artifacts build` made, under their upstream
names.

Each upstream registry gets its own namespace in the one local registry
(``<addr>/v2/<upstream host>/...``), so ``registry.k8s.io/pause`` and a
``docker.io/library/pause`` never collide; containerd reaches it through the
``vent:containerd:registry_mirrors`` pillar (``hosts.toml`` with ``override_path``), the
same feature an air-gapped site points at its own registry. Plain HTTP, reachable only
on the bridge, which the lab's guard rules keep off every other network.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ventlab.build import manifest

# Not 5000: the docker-registry package's own service listens there on every address.
PORT = 5080
# Outside the checkout and the lab dir: pushed images survive `lab down` as a cache.
STORAGE = Path("/srv/vent/registry")
BINARY = "/usr/bin/docker-registry"


def config_text(addr: str, storage: Path = STORAGE) -> str:
    return json.dumps({
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": False}},
        "http": {"addr": addr},
    }, indent=1)


def argv(config: Path) -> list[str]:
    return [BINARY, "serve", str(config)]


def wait_ready(addr: str, timeout: float = 20.0) -> None:
    """The registry answers its API root; RuntimeError naming the address otherwise."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{addr}/v2/", timeout=2) as resp:  # noqa: S310 (lab bridge)
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"the image registry on {addr} did not answer within {timeout:.0f}s: {last}")


def split_ref(ref: str) -> tuple[str, str, str]:
    """``registry.k8s.io/coredns/coredns:v1.14.6`` -> (host, repository, tag)."""
    name, tag = ref.rsplit(":", 1)
    host, repo = name.split("/", 1)
    return host, repo, tag


def local_ref(ref: str, addr: str) -> str:
    host, repo, tag = split_ref(ref)
    return f"{addr}/{host}/{repo}:{tag}"


def images(mirror: Path) -> list[dict]:
    """Every image the build recorded: ref, digest, archive path."""
    out = []
    for entry in manifest.read(mirror)["components"].values():
        for image in entry.get("images", {}).values():
            out.append({**image, "archive": str(Path(mirror) / image["path"])})
    return sorted(out, key=lambda i: i["ref"])


def _remote_digest(ref: str) -> str | None:
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{ref}"],
                          capture_output=True, timeout=60)
    if proc.returncode:
        return None
    return "sha256:" + hashlib.sha256(proc.stdout).hexdigest()


def push(mirror: Path, addr: str, log=print) -> list[str]:
    """Copy every built image into the registry, digest kept; images already there with
    that digest are left alone. Returns the local references."""
    refs = []
    for image in images(mirror):
        target = local_ref(image["ref"], addr)
        if _remote_digest(target) != image["digest"]:
            proc = subprocess.run(["skopeo", "copy", "--quiet", "--preserve-digests",
                                   "--dest-tls-verify=false", f"oci-archive:{image['archive']}",
                                   f"docker://{target}"], capture_output=True, text=True, timeout=300)
            if proc.returncode:
                raise RuntimeError(f"skopeo copy {image['ref']} to {target} failed: {proc.stderr.strip()}")
            log(f"pushed {image['ref']} ({image['digest'][:19]}...)")
        refs.append(target)
    return refs


def mirrors(mirror: Path, addr: str) -> dict:
    """``vent:containerd:registry_mirrors`` for the registries the built images name."""
    hosts = sorted({split_ref(i["ref"])[0] for i in images(mirror)})
    return {host: [f"http://{addr}/v2/{host}"] for host in hosts}
