"""The settings vent-minion.sh gives every node's minion (minion.d/00-vent.conf), run by
a real salt-call on the repository's modules: x509.* is x509_v2, and the superseded
x509 module, with its pyOpenSSL import, is never loaded for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, deploy_minion_settings
from pki_for_tests import cert, write_cert

from ventlab import saltconfig

SALT_CALL = Path(sys.executable).parent / "salt-call"


def _read_with_imports(tmp_path: Path, settings: dict) -> tuple[dict, str]:
    """``x509.read_certificate`` by salt-call with ``settings``; its answer and the
    interpreter's import log (-X importtime)."""
    conf = tmp_path / "conf"
    conf.mkdir()
    opts = saltconfig.minion_paths(REPO, root_dir=tmp_path / "root")
    opts.update(file_client="local", **settings)
    (conf / "minion").write_text(yaml.safe_dump(opts))
    path = tmp_path / "node.crt"
    write_cert(path, cert("worker-0", None, None)[0])
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(SALT_CALL), "--local", "-c", str(conf), "--out", "json",
         "x509.read_certificate", str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return json.loads(proc.stdout)["local"], proc.stderr


def _imported(log: str) -> set[str]:
    return {line.rsplit("|", 1)[1].strip() for line in log.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("deployed", [True, False], ids=["vent-minion.sh settings", "without them"])
def test_x509_is_x509_v2_without_the_superseded_module(tmp_path, deployed):
    settings = deploy_minion_settings()
    if not deployed:
        settings.pop("disable_modules")
    answer, log = _read_with_imports(tmp_path, settings)
    assert answer["subject"] == {"CN": "worker-0"}
    # Without the setting the loader imports the superseded module, which pulls in
    # pyOpenSSL: what the deployed minion is spared in every job that uses x509.
    assert ("OpenSSL" in _imported(log)) is not deployed
