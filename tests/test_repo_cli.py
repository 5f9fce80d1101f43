"""The plain salt CLIs work from a repo-shaped directory with no -c flag."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, cli_workspace, pillar_dir

BIN = Path(sys.executable).parent
KEY = "Z2Q0c0p5ZUtMZ1hVcXJ5TnFNVm5aUWJiV3B2b2RFQ2o="


def run(ws, *argv):
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=ws, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def valid_pillar(tmp_path):
    return pillar_dir(tmp_path, secrets={"encryption": f"vent:\n  encryption:\n    key: {KEY}\n"})


def test_show_top_from_repo_root_needs_no_config_flag():
    proc = run(REPO, "salt-call", "--local", "--out=json", "state.show_top")
    assert proc.returncode == 0, proc.stderr


def test_show_top_maps_roles_to_formulas(tmp_path, valid_pillar):
    ws = cli_workspace(tmp_path, valid_pillar, grains={"roles": ["worker"]})
    proc = run(ws, "salt-call", "--local", "--out=yaml", "state.show_top")
    assert proc.returncode == 0, proc.stderr
    assert "kubelet" in proc.stdout and "pki" in proc.stdout
    assert "controlplane" not in proc.stdout


def test_validate_accepts_a_valid_pillar(tmp_path, valid_pillar):
    ws = cli_workspace(tmp_path, valid_pillar)
    proc = run(ws, "salt-run", "vent.validate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "vent pillar valid" in proc.stdout
    assert "dns_ip=100.64.0.10" in proc.stdout
    # Salt's own CLI leak warnings are filtered; nothing else is printed.
    assert "unclosed" not in proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines() == [ln for ln in proc.stdout.strip().splitlines()
                                                if ln.startswith(("vent pillar valid", "WARNING"))]
    assert "serves publish" not in proc.stdout  # etc/salt/master gives publish its own pool


def test_validate_warns_of_a_master_that_serves_publish_with_the_minions_requests(tmp_path, valid_pillar):
    ws = cli_workspace(tmp_path, valid_pillar)
    master = ws / "etc" / "salt" / "master"
    config = master.read_text()
    master.write_text(config[:config.index("worker_pools:")] + config[config.index("state_output:"):])
    proc = run(ws, "salt-run", "vent.validate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Without worker_pools, Salt makes one pool of its default worker_threads (5).
    assert "WARNING the master serves publish with the minions' requests (5 workers)" in proc.stdout


def test_validate_names_the_bad_key_and_exits_nonzero(tmp_path):
    site = "vent:\n  cluster:\n    service_cidr: 10.32.0.0/16\n"  # rejected: Packet private range
    root = pillar_dir(tmp_path, site=site)
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    ws = cli_workspace(tmp_path, root)
    proc = run(ws, "salt-run", "vent.validate")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert "ERROR vent:encryption:key: missing (run `salt-run vent.encryption_key_init`)" in lines
    assert any(line.startswith("ERROR vent:cluster:service_cidr: 10.32.0.0/16 overlaps 10.0.0.0/8")
               for line in lines), lines
    # Validation changes nothing: the pillar tree is as it was.
    assert before == {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_validate_names_a_misspelt_top_level_key(tmp_path):
    root = pillar_dir(tmp_path, site="vnet:\n  cluster:\n    name: other\n",
                      secrets={"encryption": f"vent:\n  encryption:\n    key: {KEY}\n"})
    proc = run(cli_workspace(tmp_path, root), "salt-run", "vent.validate")
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[0] == (
        "ERROR vnet: unknown top-level pillar key; did you mean vent? (its settings are ignored)")


def test_validate_shows_where_site_yaml_is_broken(tmp_path):
    root = pillar_dir(tmp_path, site="vent:\n  cluster:\n    name: x\n   bad: [1\n",
                      secrets={"encryption": f"vent:\n  encryption:\n    key: {KEY}\n"})
    proc = run(cli_workspace(tmp_path, root), "salt-run", "vent.validate")
    assert proc.returncode == 1
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"ERROR pillar: {root / 'site.sls'}:4:"), proc.stdout
    assert "<unicode string>" not in proc.stdout


def test_encryption_key_init_writes_a_private_file_once(tmp_path):
    import base64

    root = pillar_dir(tmp_path)
    ws = cli_workspace(tmp_path, root)
    first = run(ws, "salt-run", "vent.encryption_key_init")
    assert first.returncode == 0, first.stdout + first.stderr
    secret = root / "secrets" / "encryption.sls"
    assert secret.stat().st_mode & 0o777 == 0o600
    import yaml

    key = yaml.safe_load(secret.read_text())["vent"]["encryption"]["key"]
    assert len(base64.b64decode(key)) == 32
    assert key not in first.stdout
    second = run(ws, "salt-run", "vent.encryption_key_init")
    assert "exists already" in second.stdout + second.stderr
    assert yaml.safe_load(secret.read_text())["vent"]["encryption"]["key"] == key
