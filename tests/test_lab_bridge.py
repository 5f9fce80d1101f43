"""The lab's bridge on a host that kept running while a lab's processes were killed
(a container restart, an OOM kill of the session): the next `up` takes over the bridge
that lab left, so `down` removes it, and still never deletes a bridge that is someone
else's."""

from __future__ import annotations

import subprocess

import pytest

from tests.lab import skip_if_opted_out
from ventlab.machines import host, state

pytestmark = pytest.mark.lab
NET = host.Network(bridge="vent-labt9", public="198.19.9.0/24", private="100.73.9.0/24")

skip_if_opted_out()


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def bridge():
    ip("link", "add", NET.bridge, "type", "bridge")
    yield NET.bridge
    subprocess.run(["ip", "link", "del", "vent-t9port"], capture_output=True)
    subprocess.run(["ip", "link", "del", NET.bridge], capture_output=True)


def up_then_down() -> dict:
    st = state.empty()
    host.bridge_up(NET, st)
    recorded = dict(st["bridge"])
    host.rules_down(st)
    host.bridge_down(st)
    return recorded


def test_a_bridge_a_killed_lab_left_is_taken_over_and_removed(bridge):
    for addr in NET.host_addresses():
        ip("addr", "add", addr, "dev", bridge)
    assert host.left_by_a_lab(NET)
    assert not up_then_down().get("foreign")
    assert not host.link_exists(bridge)


def test_a_bridge_with_a_port_is_someone_elses_and_stays(bridge):
    for addr in NET.host_addresses():
        ip("addr", "add", addr, "dev", bridge)
    ip("link", "add", "vent-t9port", "type", "veth", "peer", "name", "vent-t9peer")
    ip("link", "set", "vent-t9port", "master", bridge)
    assert not host.left_by_a_lab(NET)
    assert up_then_down()["foreign"]
    assert host.link_exists(bridge)


def test_a_bridge_without_the_lab_addresses_stays_and_loses_only_what_up_added(bridge):
    ip("addr", "add", "198.19.9.7/24", "dev", bridge)
    assert not host.left_by_a_lab(NET)
    assert up_then_down()["foreign"]
    assert host.link_exists(bridge)
    out = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", bridge],
                         capture_output=True, text=True, check=True).stdout
    assert "198.19.9.7/24" in out
    assert not any(addr in out for addr in NET.host_addresses()), out
