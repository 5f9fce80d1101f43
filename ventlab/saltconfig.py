"""Render the checkout-specific part of Vent's Salt configuration.

Salt resolves relative paths in its configs against whatever directory a daemon runs
from, so the paths that point into this checkout are rendered once, absolute, into
``etc/salt/{master,minion}.d/00-paths.conf``. Tests build their salt-factories
configs from the same functions, so the tests and the operator use one layout.
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
PATHS_FILE = "00-paths.conf"


def formula_roots(repo: Path = REPO) -> list[str]:
    """Every ``formulas/<name>-formula`` directory, sorted so the order is stable."""
    return [str(p) for p in sorted((repo / "formulas").glob("*-formula")) if p.is_dir()]


def file_roots(repo: Path = REPO) -> list[str]:
    return [str(repo / "salt"), *formula_roots(repo)]


def extension_dirs(repo: Path = REPO) -> dict:
    """Custom modules load straight from the tree: no sync step on the master."""
    salt_dir = repo / "salt"
    return {
        "module_dirs": [str(salt_dir / "_modules")],
        "runner_dirs": [str(salt_dir / "_runners")],
        "cloud_dirs": [str(salt_dir / "_clouds")],
        "states_dirs": [str(salt_dir / "_states")],
        "utils_dirs": [str(salt_dir / "_utils")],
        "outputter_dirs": [str(salt_dir / "_output")],
    }


def _paths(repo: Path, root: Path) -> dict:
    return {
        "root_dir": str(root),
        "user": getpass.getuser(),
        "file_roots": {"base": file_roots(repo)},
        "pillar_roots": {"base": [str(repo / "pillar")]},
        **extension_dirs(repo),
    }


def master_paths(repo: Path = REPO, root_dir: Path | None = None) -> dict:
    return _paths(repo, root_dir or repo / ".vent" / "salt")


def ca_peer_run(ca_minion: str) -> dict:
    """What the CA minion alone may ask of the master: whether a requesting minion
    matches a signing policy's roles (x509_v2's ``minions``). match.compound_matches
    answers for any target expression, pillar ones (I@) included, so any other minion
    allowed it could test guesses at another minion's pillar, the CA's key among it."""
    return {"peer_run": {f"^{re.escape(ca_minion)}$": ["match.compound_matches"]}}


def ca_minion(pillar_root: Path) -> str:
    """vent:pki:ca_minion as the pillar under ``pillar_root`` sets it: the site file's,
    else the tracked default. A site file this cannot read (broken YAML, Jinja) leaves
    the default: set-up must not stop there, and `salt-run vent.validate` names both
    the broken file and a CA minion the master does not let check policies."""
    from ventlab.model import model, settings

    try:
        return model.ca_minion(settings(pillar_root=pillar_root))
    except (yaml.YAMLError, ValueError):
        return model.ca_minion(settings(site=False, pillar_root=pillar_root))


def master_settings(repo: Path = REPO, root_dir: Path | None = None,
                    pillar_root: Path | None = None) -> dict:
    """master.d/00-paths.conf: this checkout's paths (``pillar_root``: another pillar),
    and peer_run for the CA minion that pillar names."""
    settings = master_paths(repo, root_dir)
    if pillar_root is not None:
        settings["pillar_roots"] = {"base": [str(pillar_root)]}
    return {**settings, **ca_peer_run(ca_minion(Path(settings["pillar_roots"]["base"][0])))}


def minion_paths(repo: Path = REPO, root_dir: Path | None = None) -> dict:
    """For ``salt-call --local`` from the repo root: same trees, its own runtime dir."""
    return _paths(repo, root_dir or repo / ".vent" / "salt-local")


def make_runtime_dirs(state_dir: Path) -> None:
    """salt-run and salt-call expect these before any daemon has created them."""
    for sub in (
        "salt/var/cache/salt/master/proc",
        "salt/var/cache/salt/master/jobs",
        "salt/var/run/salt/master",
        "salt/var/log/salt",
        "salt-local/var/cache/salt/minion/proc",
        "salt-local/var/log/salt",
    ):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)


def render(repo: Path = REPO) -> list[Path]:
    """Write the rendered path files; return what was written."""
    written = []
    for name, data in (("master", master_settings(repo)), ("minion", minion_paths(repo))):
        target = repo / "etc" / "salt" / f"{name}.d" / PATHS_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        text = "# Rendered by `./vent setup` for this checkout; do not edit.\n"
        text += yaml.safe_dump(data, default_flow_style=False, sort_keys=True)
        target.write_text(text)
        written.append(target)
    make_runtime_dirs(repo / ".vent")
    return written


if __name__ == "__main__":
    for path in render():
        print(f"wrote {path.relative_to(REPO)}")
