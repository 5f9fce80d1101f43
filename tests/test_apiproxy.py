"""The node-local API proxy (apiproxy formula): its haproxy.cfg as the formula renders
it, and its clean twin leaving alone a haproxy that Vent did not install."""

from __future__ import annotations

import pytest
from test_node_minion import LocalMinion, changed

CLEAN_IDS = {"apiproxy-service-clean-service-dead", "apiproxy-config-clean-file-absent",
             "apiproxy-package-clean-pkg-removed"}


@pytest.mark.salt
def test_clean_on_a_controller_leaves_the_operators_haproxy_alone(salt_factories, tmp_path):
    """A controller gets no proxy from `apiproxy`, so `apiproxy.clean` must not stop,
    unconfigure or remove a haproxy the operator runs there."""
    minion = LocalMinion(salt_factories, tmp_path, roles=("controller",))
    config = tmp_path / "haproxy.cfg"
    config.write_text("# the operator's own haproxy\n")
    vent = {"apiproxy": {"config_file": str(config)}}
    states = minion.apply("apiproxy.clean", vent)
    assert not CLEAN_IDS & set(states), sorted(states)
    assert changed(states) == {}
    assert config.read_text() == "# the operator's own haproxy\n"


@pytest.mark.salt
def test_clean_on_a_worker_takes_the_proxy_back(salt_factories, tmp_path):
    minion = LocalMinion(salt_factories, tmp_path, roles=("worker",))
    assert CLEAN_IDS <= set(minion.call("state.show_sls", "apiproxy.clean"))
