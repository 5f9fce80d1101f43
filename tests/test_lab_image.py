"""The node image cache: rebuilt exactly when an input changes, reused otherwise."""

from __future__ import annotations

import shutil
import time

import pytest

from tests.lab import skip_reason
from ventlab.machines import image


def test_image_hash_is_stable_and_follows_its_files(tmp_path, monkeypatch):
    first = image.image_hash()
    assert image.image_hash() == first
    files = tmp_path / "rootfs"
    shutil.copytree(image.IMAGE_FILES, files)
    monkeypatch.setattr(image, "IMAGE_FILES", files)
    assert image.image_hash() == first
    (files / "etc/ssh/sshd_config.d/vent-lab.conf").write_text("UseDNS yes\n")
    assert image.image_hash() != first


def test_image_hash_follows_packages_and_salt_pin(monkeypatch):
    first = image.image_hash()
    monkeypatch.setattr(image, "FORMULA_PACKAGES", [*image.FORMULA_PACKAGES, "tcpdump"])
    assert image.image_hash() != first
    monkeypatch.undo()
    monkeypatch.setattr(image, "salt_pins", lambda: ["salt==3008.5"])
    assert image.image_hash() != first


def test_salt_pin_matches_the_master(monkeypatch):
    from importlib import metadata

    assert image.salt_requirement() == f"salt=={metadata.version('salt')}"
    # A test tool's pin is not an image input.
    assert not any(p.startswith("pytest") for p in image.salt_pins())


@pytest.mark.lab
def test_cached_image_is_reused_without_rebuilding():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    root = image.build()
    manifest = root.parent / "manifest.json"
    before = manifest.stat().st_mtime
    started = time.monotonic()
    assert image.build() == root
    assert time.monotonic() - started < 5
    assert manifest.stat().st_mtime == before
    assert (root / "opt/vent/salt/bin/salt-minion").exists()
    assert (root / "var/lib/vent-lab/debs/Packages").stat().st_size > 0
