"""Who the etcd members are (the cluster model) and where the vent_etcd module finds
the binaries."""

from __future__ import annotations

import pytest
from conftest import load_salt_module, settings

from ventlab.model import model

mod = load_salt_module("salt/_modules/vent_etcd.py", "vent_etcd_under_test")

NODES = {
    "controller-0": {"roles": ["controller"], "private_ip": "100.72.0.2"},
    "controller-1": {"roles": ["controller"], "private_ip": "100.72.0.3"},
    "worker-0": {"roles": ["worker"], "private_ip": "100.72.0.9"},
}


def test_controllers_are_members_when_no_node_has_the_etcd_role():
    members = model.etcd_cluster(settings(), NODES)
    assert [m["name"] for m in members] == ["controller-0", "controller-1"]
    assert members[1]["peer_url"] == "https://100.72.0.3:2380"
    assert members[1]["client_url"] == "https://100.72.0.3:2379"


def test_etcd_role_takes_precedence_over_controllers():
    nodes = dict(NODES, **{"db-0": {"roles": ["etcd"], "private_ip": "100.72.0.7"}})
    vent = settings({"etcd": {"client_port": 12379, "peer_port": 12380}})
    members = model.etcd_cluster(vent, nodes)
    assert [(m["name"], m["client_url"]) for m in members] == [("db-0", "https://100.72.0.7:12379")]


def test_member_without_private_ip_is_named():
    nodes = {"controller-0": {"roles": ["controller"], "private_ip": None}}
    with pytest.raises(ValueError, match="controller-0 publish no private_ip"):
        model.etcd_cluster(settings(), nodes)


@pytest.mark.parametrize(
    ("install", "expected"), [("package", "/usr/bin"), ("release", "/usr/local/bin")]
)
def test_bin_dir_follows_install_method(install, expected):
    mod.__pillar__ = {"vent": settings({"etcd": {"install": install}})}
    assert mod.bin_dir() == expected
