"""Lint is part of the tests: yamllint and salt-lint on states and pillar, ruff on Python."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import REPO

BIN = Path(sys.executable).parent


def _tracked(*patterns):
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()
    return [p for p in out if (REPO / p).is_file()]


def _run(argv):
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(argv[:2])} failed:\n{proc.stdout}\n{proc.stderr}"


def test_ruff():
    _run([str(BIN / "ruff"), "check", "."])


def test_yamllint():
    files = _tracked("*.sls", "*.yaml", "*.yml", "cloud.profiles.d/*", "cloud.providers.d/*")
    # Jinja-templated SLS are checked by salt-lint; yamllint reads only plain YAML.
    plain = [f for f in files if not any(m in (REPO / f).read_text() for m in ("{%", "{{", "{#"))]
    assert plain, "no YAML found to lint"
    _run([str(BIN / "yamllint"), "-s", *plain])


def test_salt_lint():
    files = _tracked("*.sls")
    assert files, "no SLS found to lint"
    _run([str(BIN / "salt-lint"), *files])


# salt['pillar.get']('key', <default>) in a formula, with a default that is not an empty
# mapping or list ("nothing rendered for this minion").
PILLAR_DEFAULT = re.compile(
    r"""pillar\.get['"]\]\(\s*(['"])[^'"]+\1\s*,(?!\s*(?:\{\}|\[\])\s*\))[^)]*\)""")


def test_formulas_read_pillar_without_a_second_default():
    """Every pillar key has its default in pillar/vent/defaults.sls; a literal default
    at the read is a second copy that drifts from it (and hides a key gone missing)."""
    offenders = [
        f"{path.relative_to(REPO)}: {m.group(0)}"
        for path in sorted((REPO / "formulas").rglob("*"))
        if path.suffix in (".sls", ".jinja")
        for m in PILLAR_DEFAULT.finditer(path.read_text())
    ]
    assert offenders == []
