"""The Packet driver's one-session deploy (salt/_utils/vent_deploy.py): which settings
send a deploy back to salt-cloud's own, and what the one session does on the machine.
The remote command runs here under `sh` with the archive on its stdin, exactly as sshd
would run it; the lab tests run it over SSH on lab machines."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import tarfile

import pytest
from conftest import REPO

spec = importlib.util.spec_from_file_location("vent_deploy", REPO / "salt" / "_utils" / "vent_deploy.py")
deploy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(deploy)

OPTS = {"profiles": {"vent-worker": {}}, "providers": {"packet": {"packet": {}}}}
VM = {"name": "worker-7", "driver": "packet", "provider": "packet:packet", "profile": "vent-worker",
      "os": "vent-minion", "priv_key": "PRIVATE", "pub_key": "PUBLIC"}


def test_a_plain_key_deploy_needs_nothing_else(tmp_path):
    key = tmp_path / "id"
    key.write_text("k")
    assert deploy.unsupported({**VM, "ssh_keyfile": str(key)}, OPTS) == []


@pytest.mark.parametrize(("setting", "value"), [("make_master", True), ("ssh_gateway", "gw.example"),
                                                ("file_map", {"/a": "/b"}), ("sudo_password", "x")])
def test_settings_only_salt_cloud_implements_are_named(tmp_path, setting, value):
    assert deploy.unsupported({**VM, "ssh_keyfile": str(tmp_path / "id"), setting: value}, OPTS) == [setting]


def test_password_login_goes_to_salt_cloud(monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    assert deploy.unsupported({**VM, "password": "pw"}, OPTS) == ["password login (no ssh_keyfile)"]


def test_files_are_what_salt_cloud_uploads():
    conf = {"master": "198.18.0.1", "id": "worker-7", "grains": {"roles": ["worker"]}}
    files = deploy._files(VM, OPTS, conf)
    assert files["minion.pem"] == ("PRIVATE", 0o600)
    assert files["minion.pub"] == ("PUBLIC", 0o644)
    assert "roles:\n- worker" in files["grains"][0]
    minion = files["minion"][0]
    assert "master: 198.18.0.1" in minion and "salt-cloud:" in minion and "profile: vent-worker" in minion
    assert "roles" not in minion
    assert conf["grains"] == {"roles": ["worker"]}  # the caller's config is left as it was


def test_the_masters_extension_modules_travel_under_extmods():
    files = deploy._files(VM, OPTS, {"master": "198.18.0.1"}, {"utils/vent_model.py": b"X = 1\n"})
    assert files["extmods/utils/vent_model.py"] == (b"X = 1\n", 0o644)
    with tarfile.open(fileobj=io.BytesIO(deploy._archive(files))) as tar:
        assert tar.extractfile("extmods/utils/vent_model.py").read() == b"X = 1\n"


@pytest.mark.parametrize("keep", [False, True])
def test_one_session_unpacks_runs_the_script_with_its_env_and_cleans_up(tmp_path, keep):
    tmp_dir = tmp_path / "saltcloud-x"
    record = tmp_path / "record"
    script = (f"#!/bin/sh\nset -e\n{{ pwd; ls -l; echo \"args: $*\"; echo \"env: $VENT_WHEELHOUSE\"; "
              f"stat -c '%a %n' minion.pem deploy.sh; }} > {record}\necho installed\n")
    files = deploy._files(VM, OPTS, {"master": "198.18.0.1", "grains": {"roles": ["worker"]}})
    files["deploy.sh"] = (script, 0o700)
    vm_ = {**VM, "script_args": "-w /opt/w", "script_env": {"VENT_WHEELHOUSE": "/opt/vent wheels"}}
    remote = deploy._remote_command(str(tmp_dir), files, vm_, {**OPTS, "keep_tmp": keep}, sudo=False)
    proc = subprocess.run(["sh", "-c", remote], input=deploy._archive(files), capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip() == "installed"
    lines = record.read_text().splitlines()
    assert lines[0] == str(tmp_dir)
    assert "args: -w /opt/w" in lines and "env: /opt/vent wheels" in lines
    assert "600 minion.pem" in lines and "700 deploy.sh" in lines
    assert all(any(ln.endswith(f" {name}") for ln in lines) for name in ("grains", "minion", "minion.pub"))
    assert tmp_dir.exists() is keep


def test_a_failing_script_fails_the_session(tmp_path):
    files = {"deploy.sh": ("#!/bin/sh\necho no python >&2\nexit 3\n", 0o700)}
    remote = deploy._remote_command(str(tmp_path / "d"), files, VM, OPTS, sudo=False)
    proc = subprocess.run(["sh", "-c", remote], input=deploy._archive(files), capture_output=True)
    assert proc.returncode == 3 and b"no python" in proc.stderr
    assert not (tmp_path / "d").exists()


def test_sudo_wraps_the_whole_command():
    remote = deploy._remote_command("/tmp/.saltcloud-1", {}, VM, OPTS, sudo=True)
    assert remote.startswith("sudo -n sh -c ")


def test_archive_keeps_names_and_modes():
    data = deploy._archive({"a": ("x", 0o600), "deploy.sh": ("#!/bin/sh\n", 0o700)})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {m.name: m.mode for m in tar.getmembers()} == {"a": 0o600, "deploy.sh": 0o700}


def test_a_foreign_pending_key_under_the_name_goes_and_the_machines_own_stays(tmp_path):
    pki = tmp_path / "pki"
    (pki / "minions_pre").mkdir(parents=True)
    pending = pki / "minions_pre" / "worker-7"
    opts = {**OPTS, "pki_dir": str(pki)}
    assert deploy.drop_foreign_pending_key(VM, opts) is None  # nothing pending: nothing done
    pending.write_text("PUBLIC\n")
    assert deploy.drop_foreign_pending_key(VM, opts) is None  # its own key: salt-cloud's to accept
    assert pending.exists()
    pending.write_text("THE REPLACED MACHINE'S KEY")
    other = pki / "minions_pre" / "worker-8"
    other.write_text("ANOTHER MINION'S KEY")
    assert deploy.drop_foreign_pending_key(VM, opts) == str(pending)
    assert not pending.exists() and other.exists()
    domain = {**VM, "append_domain": "lab.example"}
    (pki / "minions_pre" / "worker-7.lab.example").write_text("OLD")
    assert deploy.drop_foreign_pending_key(domain, opts) == str(pki / "minions_pre" / "worker-7.lab.example")
