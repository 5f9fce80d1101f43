"""Shared fixtures: Salt masters and minions that listen on loopback only, with the
repository's own file_roots, pillar and extension modules."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
# The master settings every Salt test master shares with the product's master.
MASTER_CONFIG = yaml.safe_load((REPO / "etc" / "salt" / "master").read_text())
sys.path.insert(0, str(REPO))

from tests import xdist_lab_alone  # noqa: E402
from ventlab import saltconfig  # noqa: E402
from ventlab.model import UTILS_DUNDER, model  # noqa: E402

LOOPBACK = "127.0.0.1"


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """salt-factories binds its log server to 0.0.0.0; point it at loopback before
    its own sessionstart hook starts it (conftest hooks run first)."""
    log_server = session.config.pluginmanager.get_plugin("saltfactories-log-server")
    if log_server is not None:
        log_server.log_host = LOOPBACK


def pytest_unconfigure(config):
    """Salt's log handlers flush the daemons' last records at interpreter exit, after
    pytest has closed the stream they write to; each would print a "Logging error"
    traceback below the test summary and bury it."""
    logging.raiseExceptions = False


@pytest.fixture(scope="session")
def salt_factories_config():
    """Daemons stop with SIGKILL, their children with them. A minion given SIGTERM
    sleeps a fixed 5 s before it exits, for job returns to reach the master; a test that
    stops one has no returns in flight, and that wait came to minutes of the suite."""
    return {"slow_stop": False}


@pytest.fixture(scope="session")
def event_listener():
    """salt-factories' event listener, bound to loopback instead of 0.0.0.0."""
    from saltfactories.plugins.event_listener import EventListener

    listener = EventListener()
    listener.host = LOOPBACK
    listener.address = f"tcp://{LOOPBACK}:{listener.port}"
    with listener:
        yield listener


def load_salt_module(relpath: str, name: str):
    """Import one of the repo's Salt extension modules as a plain module, so pure
    functions can be tested without a loader. ``__utils__`` reaches the cluster model
    as Salt's loader would give it; other dunders are set by the caller."""
    spec = importlib.util.spec_from_file_location(name, REPO / relpath)
    module = importlib.util.module_from_spec(spec)
    module.__utils__ = UTILS_DUNDER
    spec.loader.exec_module(module)
    return module


def settings(overrides: dict | None = None) -> dict:
    """The tracked defaults and pins (no site file) with ``overrides`` merged the
    model's way: the complete ``vent`` pillar a minion would see."""
    return model.load([REPO / "pillar"], site=False, overrides=overrides)


def master_overrides(pillar_root: Path | None = None, ca_minion: str | None = None) -> dict:
    """The repository's master layout for a salt-factories master, on loopback;
    ``ca_minion`` (default: the tracked one) may check signing policies' roles."""
    paths = saltconfig.master_paths(REPO)
    paths.pop("root_dir")
    paths.pop("user")
    if pillar_root is not None:
        paths["pillar_roots"] = {"base": [str(pillar_root)]}
    return {
        **paths,
        "interface": LOOPBACK,
        "minion_data_cache": True,
        # What minions may ask of each other and of the master, as etc/salt/master and
        # the rendered master.d say, and the worker pools that serve those requests.
        "peer": MASTER_CONFIG["peer"],
        "worker_pools": MASTER_CONFIG["worker_pools"],
        **saltconfig.ca_peer_run(ca_minion or model.ca_minion(settings())),
    }


def minion_overrides(roles=(), vent_grains=None, host=None) -> dict:
    grains = {"roles": list(roles)}
    if vent_grains:
        grains["vent"] = vent_grains
    if host:  # the node's hostname (its Node name): test minions all share this host's
        grains["host"] = host
    return {"grains": grains, **deploy_minion_settings()}


def deploy_minion_settings() -> dict:
    """What vent-minion.sh writes to every node's minion.d/00-vent.conf; test minions
    run with the same settings."""
    import yaml

    script = (REPO / "etc" / "salt" / "cloud.deploy.d" / "vent-minion.sh").read_text()
    return yaml.safe_load(script.split('00-vent.conf" <<CONF\n', 1)[1].split("\nCONF\n", 1)[0])


def pillar_dir(tmp_path: Path, site: str | None = None, secrets: dict | None = None) -> Path:
    """A pillar root with the repo's tracked pillar plus test-specific site/secrets."""
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").symlink_to(REPO / "pillar" / "top.sls")
    (root / "vent").symlink_to(REPO / "pillar" / "vent")
    for extra in (REPO / "pillar").iterdir():
        if extra.is_dir() and extra.name not in ("vent", "secrets"):
            (root / extra.name).symlink_to(extra)
    if site is not None:
        (root / "site.sls").write_text(site)
    if secrets:
        (root / "secrets").mkdir()
        for name, text in secrets.items():
            (root / "secrets" / f"{name}.sls").write_text(text)
    return root


def cli_workspace(tmp_path: Path, pillar_root: Path, grains: dict | None = None) -> Path:
    """A directory laid out like the repo root for the plain salt CLIs: a Saltfile
    pointing at ``etc/salt`` whose rendered paths use ``pillar_root`` and a private
    root_dir. Commands run with this as cwd need no -c, exactly as operators run them."""
    ws = tmp_path / "ws"
    conf = ws / "etc" / "salt"
    (conf / "master.d").mkdir(parents=True)
    (conf / "minion.d").mkdir()
    (ws / "Saltfile").write_text((REPO / "Saltfile").read_text())
    for name in ("master", "minion", "cloud"):
        (conf / name).write_text((REPO / "etc" / "salt" / name).read_text())
    master = saltconfig.master_settings(REPO, root_dir=ws / ".vent" / "salt", pillar_root=pillar_root)
    minion = saltconfig.minion_paths(REPO, root_dir=ws / ".vent" / "salt-local")
    for data in (master, minion):
        data["pillar_roots"] = {"base": [str(pillar_root)]}
    if grains:
        minion["grains"] = grains
    import yaml

    (conf / "master.d" / saltconfig.PATHS_FILE).write_text(yaml.safe_dump(master))
    (conf / "minion.d" / saltconfig.PATHS_FILE).write_text(yaml.safe_dump(minion))
    saltconfig.make_runtime_dirs(ws / ".vent")
    return ws


def orchestration_steps(data) -> dict:
    """``salt-run state.orchestrate`` JSON → {step id: its result}."""
    steps = {}
    data = data if isinstance(data, dict) else {}
    for minion_ret in (data.get("data") or {}).values():
        if isinstance(minion_ret, dict):
            for key, step in minion_ret.items():
                steps[key.split("_|-")[1]] = step
    return steps


def pytest_configure(config):
    xdist_lab_alone.worker_started(config)


def pytest_sessionfinish(session):
    xdist_lab_alone.worker_finished(session.config)


def pytest_runtest_setup(item):
    xdist_lab_alone.before_test(item)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    return xdist_lab_alone.LabAloneScheduling(config, log) if config.getvalue("dist") == "loadscope" else None
