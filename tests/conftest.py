"""Shared fixtures: Salt masters and minions that listen on loopback only, with the
repository's own file_roots, pillar and extension modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ventlab import saltconfig  # noqa: E402

LOOPBACK = "127.0.0.1"


@pytest.hookimpl(hookwrapper=True)
def pytest_configure(config):
    """salt-factories binds its log server to 0.0.0.0; rebind it to loopback."""
    yield
    from saltfactories.plugins.log_server import LogServer

    pm = config.pluginmanager
    old = pm.get_plugin("saltfactories-log-server")
    if old is not None and old.log_host != LOOPBACK:
        pm.unregister(old, "saltfactories-log-server")
        pm.register(
            LogServer(log_host=LOOPBACK, log_level=old.log_level), "saltfactories-log-server"
        )


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
    functions can be tested without a loader; dunders are set by the caller."""
    spec = importlib.util.spec_from_file_location(name, REPO / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def master_overrides(pillar_root: Path | None = None) -> dict:
    """The repository's master layout for a salt-factories master, on loopback."""
    paths = saltconfig.master_paths(REPO)
    paths.pop("root_dir")
    paths.pop("user")
    if pillar_root is not None:
        paths["pillar_roots"] = {"base": [str(pillar_root)]}
    return {
        **paths,
        "interface": LOOPBACK,
        "minion_data_cache": True,
        "peer": {".*": ["x509.sign_remote_certificate"]},
    }


def minion_overrides(roles=(), vent_grains=None) -> dict:
    grains = {"roles": list(roles)}
    if vent_grains:
        grains["vent"] = vent_grains
    return {"grains": grains, "acceptance_wait_time": 1, "auth_timeout": 5}


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
