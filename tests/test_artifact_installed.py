"""vent_artifact.installed for a plain binary, on one masterless minion kept across
runs (its cache directory holds what was verified): installed from the mirror with its
checksum, left alone when in place, and put back when the file changed."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import REPO, minion_overrides, pillar_dir, settings

from ventlab import saltconfig

pytestmark = pytest.mark.salt

VERSION = settings()["artifacts"]["releases"]["kubernetes"]["version"]
RELEASE = b"#!/bin/sh\necho kubectl stand-in for this unit test\n"
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


@pytest.fixture(scope="module")
def env(salt_factories, tmp_path_factory):
    arch = ARCH[os.uname().machine]  # the minion's osarch grain, which picks the mirror path
    tmp = tmp_path_factory.mktemp("artifact")
    mirror = tmp / "mirror"
    source = mirror / "kubernetes" / VERSION / arch / "kubectl"
    source.parent.mkdir(parents=True)
    source.write_bytes(RELEASE)
    checksum = hashlib.sha256(RELEASE).hexdigest()
    site = {"vent": {"artifacts": {
        "mirror": str(mirror), "allow_download": False,
        "releases": {"kubernetes": {"files": {"kubectl": {"checksums": {VERSION: {arch: checksum}}}}}},
    }}}
    pillar = pillar_dir(tmp, site=yaml.safe_dump(site))
    paths = saltconfig.minion_paths(REPO)
    paths.pop("root_dir")
    paths.pop("user")
    minion = salt_factories.salt_minion_daemon(
        f"artifact-{uuid.uuid4().hex[:6]}",
        overrides={**paths, **minion_overrides(["worker"]), "file_client": "local",
                   "pillar_roots": {"base": [str(pillar)]}})
    bin_dir = tmp / "bin"
    yield {"minion": minion, "bin": bin_dir, "checksum": checksum}


def install(env):
    ret = env["minion"].salt_call_cli(timeout=240).run(
        "--local", "state.single", "vent_artifact.installed", "name=kubectl", "component=kubernetes",
        "file=kubectl", f"bin_dir={env['bin']}")
    assert isinstance(ret.data, dict), ret.stdout + ret.stderr
    (result,) = ret.data.values()
    assert result["result"] is True, result["comment"]
    return result


def record_file(env) -> Path:
    return Path(env["minion"].config["cachedir"]) / "vent_artifact" / "verified.json"


def verified(env):
    return json.loads(record_file(env).read_text())


def test_installed_then_left_alone_then_put_back_when_changed(env):
    target = env["bin"] / "kubectl"
    first = install(env)
    assert str(target) in first["changes"]
    assert target.read_bytes() == RELEASE
    assert oct(target.stat().st_mode & 0o777) == "0o755"

    again = install(env)
    assert again["changes"] == {}
    record = verified(env)[str(target)]
    assert record["source_hash"] == f"sha256={env['checksum']}"
    assert record["stamp"][1:3] == [target.stat().st_ino, len(RELEASE)]

    target.write_bytes(RELEASE.replace(b"stand-in", b"tampered"))  # same size, new bytes
    restored = install(env)
    assert str(target) in restored["changes"]
    assert target.read_bytes() == RELEASE

    target.chmod(0o700)
    fixed = install(env)
    assert fixed["changes"] == {str(target): {"mode": "0755"}}
    assert oct(target.stat().st_mode & 0o777) == "0o755"
    assert install(env)["changes"] == {}


def test_a_matching_record_spares_the_hash(env):
    """The record is what spares the hash: with bytes that do not match but a record
    that matches the file's stat, nothing is read and nothing changes (the record lives
    in the minion's root-only cache; any write to the file moves its ctime)."""
    target = env["bin"] / "kubectl"
    install(env)
    target.write_bytes(b"x" * len(RELEASE))
    st = target.stat()
    records = verified(env)
    records[str(target)]["stamp"] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
    record_file(env).write_text(json.dumps(records))
    assert install(env)["changes"] == {}
    assert target.read_bytes() == b"x" * len(RELEASE)
    target.write_bytes(RELEASE)  # leave the file as the release
