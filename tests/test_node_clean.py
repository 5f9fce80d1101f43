"""What a node's clean takes away besides files: the pods containerd runs (its unit
stops containerd alone, KillMode=process) and kube-proxy's rules in the kernel. The
binaries are stand-ins that record how they are called; the SLS are real."""

from __future__ import annotations

import pytest
from test_node_minion import LocalMinion, changed

pytestmark = pytest.mark.salt

PODS_ID = "containerd-service-clean-pods-cmd-run"


@pytest.fixture
def minion(salt_factories, tmp_path):
    return LocalMinion(salt_factories, tmp_path)


def _stand_in(path, script):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


def _crictl(tmp_path):
    """A crictl that lists the pods in `pods` and removes them all on `rmp -fa`."""
    bin_dir, log, pods = tmp_path / "bin", tmp_path / "crictl.log", tmp_path / "pods"
    _stand_in(bin_dir / "crictl", f"""echo "$*" >> {log}
case "$*" in
  *" pods --quiet") cat {pods} 2>/dev/null ;;
  *" rmp --force --all") rm -f {pods} ;;
esac
""")
    pods.write_text("pod-a\npod-b\n")
    return bin_dir, log, pods


def _pods_state(minion, vent):
    """Only the pod removal of containerd.service.clean: service.dead needs systemd."""
    data = minion.call("state.sls_id", PODS_ID, "containerd.service.clean", vent=vent)
    (state,) = [v for k, v in data.items() if f"_|-{PODS_ID}_|-" in k]
    assert state["result"] is True, state
    return state


def test_containerd_clean_removes_every_pod_before_stopping_containerd(minion, tmp_path):
    bin_dir, log, pods = _crictl(tmp_path)
    vent = {"kubernetes": {"dirs": {"bin": str(bin_dir)}},
            "containerd": {"state_dir": str(tmp_path / "run")}}
    high = minion.call("state.show_sls", "containerd.service.clean", vent=vent)
    dead = high["containerd-service-clean-service-dead"]["service"]
    assert {"require": [{"cmd": PODS_ID}]} in dead

    assert _pods_state(minion, vent)["changes"]
    assert not pods.exists()
    calls = log.read_text().splitlines()
    endpoint = f"--runtime-endpoint unix://{tmp_path}/run/containerd.sock"
    assert calls[-1].startswith(endpoint) and calls[-1].endswith("rmp --force --all"), calls

    # No pod left: the second clean changes nothing.
    assert _pods_state(minion, vent)["changes"] == {}
    assert not log.read_text().splitlines()[-1].endswith("rmp --force --all")


def test_containerd_clean_without_crictl_changes_nothing(minion, tmp_path):
    vent = {"kubernetes": {"dirs": {"bin": str(tmp_path / "no-bin")}}}
    assert _pods_state(minion, vent)["changes"] == {}


def test_kube_proxy_clean_takes_its_rules_away_before_its_binary(minion, tmp_path):
    bin_dir, log = tmp_path / "bin", tmp_path / "kube-proxy.log"
    _stand_in(bin_dir / "kube-proxy", f'echo "$*" >> {log}\n')
    vent = {"kubernetes": {"dirs": {"bin": str(bin_dir)}}}
    first = minion.apply("kube_proxy.package.clean", vent)
    assert log.read_text() == "--cleanup\n"
    assert not (bin_dir / "kube-proxy").exists()
    assert set(changed(first)) == {"kube-proxy-package-clean-cmd-run",
                                   "kube-proxy-package-clean-file-absent"}
    # The binary is gone: nothing to run, nothing to change.
    assert changed(minion.apply("kube_proxy.package.clean", vent)) == {}
    assert log.read_text() == "--cleanup\n"
