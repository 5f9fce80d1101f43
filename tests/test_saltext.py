"""Vent from a site's own salt-master: the `saltext-vent` wheel, built from this
checkout, installed in a fresh virtualenv with Salt; a salt-master and a minion from
that venv configured as a site would (no *_dirs settings, nothing of this checkout on
sys.path; formulas through file_roots, the pillar through the site's own top.sls).
Through it: `salt-cloud --list-providers` sees the packet driver, `vent.validate`
answers, one formula's state applies on the minion, and the orchestration's first
steps run on probe states."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import LOOPBACK, MASTER_CONFIG, REPO, minion_overrides, orchestration_steps
from saltfactories.manager import FactoriesManager

from ventlab import saltconfig

pytestmark = pytest.mark.salt

KEY = "Z2Q0c0p5ZUtMZ1hVcXJ5TnFNVm5aUWJiV3B2b2RFQ2o="
# The site's own pillar for its one-node cluster.
SITE = {"vent": {"pki": {"ca_minion": "site-controller-0"}, "roles": {"controllers_schedulable": True}}}
# What the wheel is built from: the files pyproject.toml names, copied as git has them.
SOURCES = ("pyproject.toml", "README.md", "packaging", "salt/_modules", "salt/_runners", "salt/_states",
           "salt/_utils", "salt/_output", "salt/_clouds")


def _run(*argv, cwd=None, timeout=900):
    out = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, argv))}: {out.stdout[-2000:]}{out.stderr[-3000:]}"
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for rel in SOURCES:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (REPO / rel).is_dir() else shutil.copy
        copy(REPO / rel, src / rel)
    dist = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, src)
    [built] = dist.glob("saltext_vent-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel):
    """A fresh venv: the wheel and what it depends on, held to this repo's pins. Python
    compiles what the tests import when they import it, not all of Salt up front."""
    path = tmp_path_factory.mktemp("site") / "venv"
    _run("/usr/bin/python3", "-m", "venv", path)
    _run(path / "bin/pip", "install", "-q", "--disable-pip-version-check", "--no-compile",
         "-c", REPO / "requirements.lock", wheel)
    return path


def test_the_wheel_carries_every_module_once_and_its_entry_point(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for kind in ("modules", "runners", "states", "utils", "output", "clouds"):
        tree = {p.name for p in (REPO / "salt" / f"_{kind}").glob("*.py")}
        assert tree and {Path(n).name for n in names if n.startswith(f"saltext/vent/{kind}/")} == tree, kind
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry).decode()
    assert "[salt.loader]" in text and "vent = saltext.vent" in text
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "Requires-Dist: salt<3009,>=3008.4" in meta


def test_nothing_of_the_checkout_is_importable_in_the_site_venv(venv):
    out = _run(venv / "bin/python", "-c", "import saltext.vent, salt.version, sys; "
               "print(saltext.vent.__file__); print(salt.version.__version__)", cwd="/")
    where, version = out.stdout.split()
    assert where.startswith(str(venv)) and version.startswith("3008.")


@pytest.fixture(scope="module")
def site(salt_factories, venv, tmp_path_factory):
    """A master and a minion from the site venv; the master's config has no *_dirs."""
    tmp = tmp_path_factory.mktemp("sitemaster")
    pillar = tmp / "pillar"
    (pillar / "secrets").mkdir(parents=True)
    # The site's own top.sls includes Vent's tracked pillar files (mounted as `vent/`).
    (pillar / "vent").symlink_to(REPO / "pillar" / "vent")
    (pillar / "top.sls").write_text(yaml.safe_dump({"base": {"*": [
        "vent.defaults", "vent.artifacts", "vent.mine", "site", "secrets.encryption"]}}))
    (pillar / "site.sls").write_text(yaml.safe_dump(SITE))
    (pillar / "secrets" / "encryption.sls").write_text(f"vent:\n  encryption:\n    key: {KEY}\n")
    probe = tmp / "probe"
    shutil.copytree(REPO / "tests" / "data" / "orch_probe", probe)
    # A short root: the minion's event socket path must fit AF_UNIX's 108 bytes.
    short = Path(tempfile.mkdtemp(prefix="vs-"))
    manager = FactoriesManager(
        root_dir=short, log_server_host=salt_factories.log_server_host,
        log_server_port=salt_factories.log_server_port, log_server_level=salt_factories.log_server_level,
        event_listener=salt_factories.event_listener, python_executable=str(venv / "bin/python"), cwd=tmp,
    )
    # The orchestration mounted as `vent/`: the repo's salt/ (with its _modules) is not a
    # root, so the minion's Vent modules come from the package alone.
    orch = tmp / "orchestration"
    orch.mkdir()
    (orch / "vent").symlink_to(REPO / "salt" / "vent")
    # `site` is the layout README documents; `base` puts the probe states in front of
    # the formulas so the orchestration's steps run on the test double.
    site_roots = [*saltconfig.formula_roots(REPO), str(orch)]
    master = manager.salt_master_daemon("site-master", overrides={
        "interface": LOOPBACK, "pillar_roots": {"base": [str(pillar)]},
        "file_roots": {"base": [str(probe), *site_roots], "site": site_roots},
        "minion_data_cache": True,
        # README's site master: minions may ask the CA to sign, the CA alone may check
        # who may use a signing policy, and publish has workers of its own.
        "peer": MASTER_CONFIG["peer"], **saltconfig.ca_peer_run("site-controller-0"),
        "worker_pools": MASTER_CONFIG["worker_pools"],
    })
    with master.started():
        minion = master.salt_minion_daemon("site-controller-0", overrides=minion_overrides(
            ["controller"], {"private_ip": "100.72.0.2", "public_ip": "198.18.0.2"}))
        with minion.started():
            yield {"master": master, "minion": minion, "pillar": pillar, "tmp": tmp, "venv": venv}
    shutil.rmtree(short, ignore_errors=True)


def test_the_site_master_has_no_vent_dirs(site):
    conf = yaml.safe_load(Path(site["master"].config_file).read_text())
    # (salt-factories adds its own engine and log handler dirs, from its package.)
    vent_dirs = {k: v for k, v in conf.items() if k.endswith("_dirs")
                 and any(str(REPO / "salt") in str(d) for d in (v if isinstance(v, list) else [v]))}
    assert vent_dirs == {}


def test_validate_runs_from_the_package(site):
    ret = site["master"].salt_run_cli(timeout=120).run("vent.validate", "--out=vent_text")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert "vent pillar valid" in ret.stdout and "dns_ip=100.64.0.10" in ret.stdout
    bad_site = {"vent": {**SITE["vent"], "flannel": {"backend": "udp"}}}
    site["pillar"].joinpath("site.sls").write_text(yaml.safe_dump(bad_site))
    try:
        bad = site["master"].salt_run_cli(timeout=120).run("vent.validate", "--out=vent_text")
        assert bad.returncode == 1
        assert "ERROR vent:flannel:backend: 'udp' is not one of vxlan" in bad.stdout
    finally:
        site["pillar"].joinpath("site.sls").write_text(yaml.safe_dump(SITE))


def test_a_formula_state_applies_on_the_minion_with_the_packaged_modules(site):
    mid = site["minion"].id
    cli = site["master"].salt_cli(timeout=180)
    ping = cli.run("test.ping", minion_tgt=mid)
    assert ping.returncode == 0 and ping.data is True, ping.stdout + ping.stderr
    assert cli.run("saltutil.sync_all", minion_tgt=mid).returncode == 0
    ret = cli.run("vent_cluster.api_backends", minion_tgt=mid)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    # apiproxy on a controller: rendered with the package's vent_cluster, which knows
    # this minion is a controller and so needs no proxy.
    ret = cli.run("state.apply", "apiproxy", "saltenv=site", minion_tgt=mid)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    [state] = ret.data.values()
    assert state["result"] is True and "a controller reaches its own API server" in state["name"]
    assert state["changes"] == {}


def test_the_orchestration_first_steps_run(site):
    log = site["tmp"] / "probe.log"
    site["pillar"].joinpath("site.sls").write_text(yaml.safe_dump({**SITE, "probe": {"log": str(log)}}))
    try:
        ret = site["master"].salt_run_cli(timeout=300).run(
            "state.orchestrate", "vent", 'pillar={"vent": {"orchestrate": {"stop_after": "pki"}}}')
        assert ret.returncode == 0, ret.stdout + ret.stderr
        steps = orchestration_steps(ret.data)
        assert [k for k, s in steps.items() if s["result"] is not True] == []
        assert {"vent-refresh", "vent-validate", "vent-pki-ca", "vent-pki-nodes"} <= set(steps)
        assert "vent-etcd" not in " ".join(steps)
        mid = site["minion"].id
        assert log.read_text().splitlines() == [f"pki-ca {mid}", f"pki {mid}"]
    finally:
        site["pillar"].joinpath("site.sls").write_text(yaml.safe_dump(SITE))


def test_salt_cloud_lists_the_packet_driver(site, tmp_path):
    conf = tmp_path / "cloud"
    (conf / "cloud.providers.d").mkdir(parents=True)
    (conf / "cloud.providers.d" / "packet.conf").write_text(yaml.safe_dump({"packet": {
        "driver": "packet", "token": "not-used", "project_id": "not-used"}}))
    (conf / "cloud").write_text(json.dumps({"root_dir": str(tmp_path / "root"),
                                            "log_file": str(tmp_path / "cloud.log")}))
    out = _run(site["venv"] / "bin/salt-cloud", "-c", conf, "--list-providers", "--out=json", cwd="/")
    assert json.loads(out.stdout) == {"packet": {"packet": {}}}
