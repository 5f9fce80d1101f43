"""The cluster model for code that runs outside Salt (the lab, the artifact build,
the tests): the same files Salt loads as ``__utils__``, imported once, with the
settings loaded by the model's own merge rule."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UTILS = REPO / "salt" / "_utils"
PILLAR = REPO / "pillar"


def util(name: str):
    """One of ``salt/_utils/<name>.py``, imported once."""
    key = f"vent_utils_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, UTILS / f"{name}.py")
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


class Utils(dict):
    """``__utils__`` as Salt packs it into modules, states and runners:
    ``"<module>.<function>"`` -> the function, for tests that load those files
    without Salt's loader."""

    def __missing__(self, key):
        module, _, name = key.partition(".")
        return getattr(util(module), name)

    def __contains__(self, key):
        module, _, name = key.partition(".")
        return (UTILS / f"{module}.py").is_file() and hasattr(util(module), name)


UTILS_DUNDER = Utils()


model = util("vent_model")


def host_arch() -> str:
    """This machine's architecture as release files name it (amd64, arm64)."""
    return model.arch(os.uname().machine)


def settings(site: bool = True, overrides: dict | None = None, pillar_root: Path = PILLAR) -> dict:
    """The ``vent`` settings as the master compiles them from this checkout's pillar."""
    return model.load([pillar_root], site=site, overrides=overrides)


def formula_rules(repo: Path = REPO) -> dict:
    """What the formulas accept (their ``schema.yaml``), read from this checkout's
    file roots as the master's file server serves them."""
    from ventlab import saltconfig

    files = {}
    for root in map(Path, saltconfig.file_roots(repo)):
        for path in root.glob("*/*.yaml"):
            files.setdefault(str(path.relative_to(root)), path)
    return util("vent_validation").rules_from_files(
        lambda rel: files[rel].read_text() if rel in files else None, files)
