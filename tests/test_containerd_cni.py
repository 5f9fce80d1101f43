"""The CNI formula: conflicting leftover configs go, the operator's stay; a missing
plugins release fails naming its artifact."""

from __future__ import annotations

import pytest
from test_node_minion import LocalMinion, changed

pytestmark = pytest.mark.salt


@pytest.fixture
def minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


def test_only_known_conflicting_configs_are_removed(minion, tmp_path):
    conf = tmp_path / "net.d"
    conf.mkdir()
    for name in ("10-containerd-net.conflist", "87-podman-bridge.conflist",
                 "10-flannel.conflist", "05-operator.conflist"):
        (conf / name).write_text("{}")
    vent = {"cni": {"conf_dir": str(conf)}}
    minion.apply("cni.config.clean_conflicts", vent)
    assert sorted(p.name for p in conf.iterdir()) == ["05-operator.conflist", "10-flannel.conflist"]
    assert changed(minion.apply("cni.config.clean_conflicts", vent)) == {}


def test_missing_plugins_release_names_the_artifact(minion, tmp_path):
    bin_dir = tmp_path / "cni-bin"
    states = minion.apply("cni", {"cni": {"bin_dir": str(bin_dir), "conf_dir": str(tmp_path / "net.d")}},
                          check=False)
    failed = [v["comment"] for v in states.values() if v["result"] is False]
    assert len(failed) == 1, failed
    assert "vent:artifacts:releases:cni_plugins:files:cni-plugins (version 1.6.2)" in failed[0]
    assert not bin_dir.exists()
