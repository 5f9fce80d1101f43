"""A masterless salt-factories minion for the worker-stack formulas.

The node, containerd, kubelet and kube-proxy tests apply real SLS files with
`salt-call --local` against the repository's file roots and pillar, with a test's own
site pillar pointing every config directory into tmp_path. Helpers live here; the one
test checks that a site override reaches the formulas' map.jinja.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from conftest import REPO, minion_overrides, pillar_dir

from ventlab import saltconfig
from ventlab.model import model

PRIVATE_IP = "100.72.0.3"


class LocalMinion:
    def __init__(self, salt_factories, tmp_path: Path, roles=("worker",), private_ip=PRIVATE_IP):
        self.salt_factories = salt_factories
        self.tmp = tmp_path
        self.roles = roles
        self.private_ip = private_ip
        self.mirror = tmp_path / "mirror"
        self.mirror.mkdir(exist_ok=True)
        self._n = 0

    def site(self, vent: dict) -> str:
        """A site.sls whose artifacts come only from an empty tmp mirror (never the
        network), merged with the test's ``vent`` overrides."""
        base = {"artifacts": {"mirror": str(self.mirror), "allow_download": False}}
        return yaml.safe_dump({"vent": _merge(base, vent)})

    def call(self, *args, vent: dict | None = None):
        """Run ``salt-call --local *args`` on a fresh minion with this test's pillar."""
        self._n += 1
        root = self.tmp / f"salt-{self._n}"
        root.mkdir()
        pillar = pillar_dir(root, site=self.site(vent or {}))
        paths = saltconfig.minion_paths(REPO)
        paths.pop("root_dir")
        paths.pop("user")
        grains = {"private_ip": self.private_ip} if self.private_ip else None
        overrides = {
            **paths,
            **minion_overrides(self.roles, grains),
            "file_client": "local",
            "pillar_roots": {"base": [str(pillar)]},
        }
        minion = self.salt_factories.salt_minion_daemon(
            f"worker-{uuid.uuid4().hex[:6]}", overrides=overrides
        )
        ret = minion.salt_call_cli(timeout=240).run("--local", *args)
        # A dict of states, or a list of low chunks; render errors come back as a list
        # of strings.
        ran = isinstance(ret.data, dict) or (
            isinstance(ret.data, list) and all(isinstance(c, dict) for c in ret.data))
        assert ran, f"{' '.join(args)} did not run:\n{ret.stdout}\n{ret.stderr}"
        return ret.data

    def apply(self, sls: str, vent: dict | None = None, check=True):
        """state.apply ``sls``; returns {state id: result dict}."""
        data = self.call("state.apply", sls, vent=vent)
        states = {key.split("_|-")[1]: val for key, val in data.items()}
        if check:
            failed = {k: v["comment"] for k, v in states.items() if not v["result"]}
            assert not failed, failed
        return states


def _merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def changed(states: dict) -> dict:
    return {k: v["changes"] for k, v in states.items() if v["changes"]}


@pytest.fixture
def local_minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


@pytest.mark.salt
def test_site_override_moves_config_dir(local_minion, tmp_path):
    target = tmp_path / "kube-proxy"
    states = local_minion.apply("kube_proxy.config.file", {"kube_proxy": {"config_dir": str(target)}})
    assert (target / "config.yaml").is_file()
    assert changed(states)


WORKER_SLS = ("node", "containerd", "cni", "kubelet", "kube_proxy")


@pytest.mark.salt
def test_every_worker_sls_and_its_clean_twin_renders(salt_factories, tmp_path):
    """The service SLS need systemd and cannot be applied here; they must still compile
    (Jinja, YAML, requisites) with the release install and with Debian packages."""
    minion = LocalMinion(salt_factories, tmp_path)
    mods = ",".join(f"{name},{name}.clean" for name in WORKER_SLS)
    for vent in ({}, {"containerd": {"install": "package"}, "runc": {"install": "package"},
                      "cni": {"install": "package"}, "gvisor": {"enabled": False}}):
        ids = set(minion.call("state.show_sls", mods, vent=vent))
        assert "kubelet-config-file-file-serialize" in ids
        assert "containerd-service-running-service-running" in ids
        assert "kube-proxy-service-clean-service-dead" in ids


@pytest.mark.salt
def test_kube_proxy_is_in_place_before_the_kubelet_waits_for_its_api(salt_factories, tmp_path):
    """In the kubelet nodes' own step (vent_model.WORKERS_SLS), kube-proxy's binary and
    config are installed before the kubelet's start waits for the API, and kube-proxy
    starts after it: what a node needs no API for is done before it waits, not after."""
    minion = LocalMinion(salt_factories, tmp_path)
    chunks = minion.call("state.show_low_sls", ",".join(model.WORKERS_SLS))
    order = [c["__id__"] for c in sorted(chunks, key=lambda c: c["order"])]
    wait = order.index("kubelet-service-running-vent_k8s-api_healthy")
    assert order.index("kube-proxy-package-install-kube-proxy-vent_artifact-installed") < wait
    assert order.index("kube-proxy-config-file-file-serialize") < wait
    assert wait < order.index("kubelet-service-running-service-running")
    assert wait < order.index("kube-proxy-service-running-service-running")
