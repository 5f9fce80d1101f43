"""The control-plane formula applied for real on a salt-factories minion (loopback):
missing binaries stop the run with the artifact named and nothing written; configs and
units render from pillar + mine, a second apply changes nothing, clean removes them."""

from __future__ import annotations

import os
import time

import pytest
from conftest import load_salt_module, master_overrides, minion_overrides, pillar_dir, settings

pytestmark = pytest.mark.salt

PRIVATE_IP = "100.72.0.10"
COMPONENTS = ("apiserver", "controller_manager", "scheduler")
CONFIG_SLS = ",".join(f"controlplane.{c}.config" for c in COMPONENTS)
CLEAN_SLS = ",".join(f"controlplane.{c}.config_clean" for c in COMPONENTS)


@pytest.fixture(scope="module")
def env(salt_factories, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("controlplane")
    dirs = {name: tmp / name for name in ("bin", "config", "systemd", "mirror")}
    for path in dirs.values():
        path.mkdir()
    site = f"""
vent:
  kubernetes:
    dirs:
      bin: {dirs['bin']}
      config: {dirs['config']}
      systemd: {dirs['systemd']}
  artifacts:
    mirror: {dirs['mirror']}
    allow_download: false
"""
    master = salt_factories.salt_master_daemon(
        "cp-master", overrides=master_overrides(pillar_dir(tmp, site=site)))
    with master.started():
        minion = master.salt_minion_daemon(
            "controller-0",
            overrides=minion_overrides(["controller"], {"private_ip": PRIVATE_IP}))
        with minion.started():
            call = minion.salt_call_cli(timeout=120)
            assert call.run("saltutil.sync_all").returncode == 0
            assert call.run("mine.update").returncode == 0
            yield call, dirs


def _states(ret):
    assert isinstance(ret.data, dict), ret.stdout + ret.stderr
    return ret.data


def _files(dirs):
    return sorted(str(p) for d in ("bin", "config", "systemd") for p in dirs[d].rglob("*"))


def test_missing_binaries_fail_fast_naming_the_artifact_and_touch_nothing(env):
    call, dirs = env
    ret = call.run("state.apply", "controlplane")
    states = _states(ret)
    assert ret.returncode != 0
    assert list(states) == [next(k for k in states if "vent_artifact-available" in k)], sorted(states)
    result = next(iter(states.values()))
    assert result["result"] is False
    comment = result["comment"]
    version = settings()["artifacts"]["releases"]["kubernetes"]["version"]
    for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        key = f"vent:artifacts:releases:kubernetes:files:{binary}"
        for fragment in (f"missing artifact {key} (version {version})",
                         f"{dirs['mirror']}/kubernetes/{version}/amd64/{binary} is not in the mirror",
                         f"https://dl.k8s.io/release/v{version}/bin/linux/amd64/{binary}"):
            assert fragment in comment, comment
    assert "allow_download is false" in comment
    assert _files(dirs) == []


def test_configs_render_from_pillar_and_mine_and_reapply_changes_nothing(env):
    call, dirs = env
    first = _states(call.run("state.apply", CONFIG_SLS))
    assert all(s["result"] is True for s in first.values()), first
    assert sum(bool(s["changes"]) for s in first.values()) == len(first) == 6

    api = (dirs["systemd"] / "kube-apiserver.service").read_text()
    assert f"ExecStart={dirs['bin']}/kube-apiserver \\" in api
    assert "User=kube-apiserver" in api and "Restart=on-failure" in api
    # Started after etcd, so stopped before it: the API server does not wait at
    # shutdown on an etcd that is going away.
    assert "After=network-online.target etcd.service\n" in api
    for flag in (f"--advertise-address={PRIVATE_IP}", "--bind-address=0.0.0.0", "--secure-port=6443",
                 f"--etcd-servers=https://{PRIVATE_IP}:2379", "--authorization-mode=Node,RBAC",
                 f"--authentication-config={dirs['config']}/authentication-config.yaml",
                 f"--audit-policy-file={dirs['config']}/audit-policy.yaml",
                 "--service-cluster-ip-range=100.64.0.0/13"):
        assert f"  {flag} \\\n" in api or api.rstrip().endswith(flag) or f"  {flag}\n" in api, flag

    cm = (dirs["systemd"] / "kube-controller-manager.service").read_text()
    assert "User=kube-controller-manager" in cm
    assert "After=network-online.target etcd.service kube-apiserver.service\n" in cm
    assert "--bind-address=127.0.0.1" in cm and "--cluster-cidr=100.96.0.0/11" in cm
    sched = (dirs["systemd"] / "kube-scheduler.service").read_text()
    assert "User=kube-scheduler" in sched and "--bind-address=127.0.0.1" in sched
    assert "After=network-online.target etcd.service kube-apiserver.service " \
           "kube-controller-manager.service\n" in sched
    assert "leaderElect: true" in (dirs["config"] / "kube-scheduler.yaml").read_text()
    auth = (dirs["config"] / "authentication-config.yaml").read_text()
    assert "- path: /livez" in auth and "- path: /readyz" in auth and "enabled: true" in auth

    second = _states(call.run("state.apply", CONFIG_SLS))
    assert all(s["result"] is True for s in second.values()), second
    assert [k for k, s in second.items() if s["changes"]] == []

    cleaned = _states(call.run("state.apply", CLEAN_SLS))
    assert all(s["result"] is True for s in cleaned.values()), cleaned
    assert _files(dirs) == []


def test_apiserver_restarts_when_its_encryption_config_changes(env):
    """A changed vent:encryption key or provider reaches kube-apiserver only by a
    restart: its service watches pki.encryption (a change in the same run) and a state
    that reports a change when the file is newer than the running process (written by
    the deploy's PKI step, a run before)."""
    call, _ = env
    high = _states(call.run("state.show_sls", "controlplane.apiserver.service"))
    service = high["controlplane-apiserver-service-service-running"]["service"]
    (watch,) = [arg["watch"] for arg in service if isinstance(arg, dict) and "watch" in arg]
    assert {"sls": "pki.encryption"} in watch
    assert {"test": "controlplane-apiserver-service-encryption-test-configurable_test_state"} in watch
    stale = high["controlplane-apiserver-service-encryption-test-configurable_test_state"]["test"]
    # No kube-apiserver runs here: nothing has read an older file.
    assert {"changes": False} in stale


def _systemctl(pid, started_monotonic_us):
    return f"MainPID={pid}\nExecMainStartTimestampMonotonic={started_monotonic_us}\n"


@pytest.mark.parametrize(("pid", "started_ago", "written_ago", "expected"), [
    (4242, 60, 10, True),    # written after the process started: not read yet
    (4242, 10, 60, False),   # started after the write: read as it is
    (0, 0, 10, False),       # not running
])
def test_read_before_change_compares_the_start_with_the_files_mtime(
        tmp_path, pid, started_ago, written_ago, expected):
    mod = load_salt_module("salt/_modules/vent_cluster.py", "vent_cluster_under_test")
    path = tmp_path / "encryption-config.yaml"
    path.write_text("kind: EncryptionConfiguration\n")
    written = time.time() - written_ago
    os.utime(path, (written, written))
    started = int((time.monotonic() - started_ago) * 1e6) if pid else 0
    mod.__salt__ = {"cmd.run": lambda *a, **kw: _systemctl(pid, started)}
    assert mod.read_before_change("kube-apiserver", str(path)) is expected
    assert mod.read_before_change("kube-apiserver", str(tmp_path / "absent")) is False
