"""The test harness itself listens on loopback only: salt-factories' log server and
event listener default to 0.0.0.0, and the master's interface to all addresses."""

from __future__ import annotations

import os

import psutil
import pytest
from conftest import master_overrides, minion_overrides

pytestmark = pytest.mark.salt


def _listening_addresses(pids):
    found = []
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids:
            found.append((conn.pid, conn.laddr.ip, conn.laddr.port))
    return found


def test_master_minion_and_harness_listen_on_loopback_only(salt_factories, tmp_path):
    master = salt_factories.salt_master_daemon("loopback-master", overrides=master_overrides())
    with master.started():
        minion = master.salt_minion_daemon("loopback-minion", overrides=minion_overrides())
        with minion.started():
            ret = master.salt_cli().run("test.ping", minion_tgt=minion.id)
            assert ret.returncode == 0 and ret.data is True
            me = psutil.Process(os.getpid())
            pids = {me.pid, *(c.pid for c in me.children(recursive=True))}
            listening = _listening_addresses(pids)
            assert listening, "expected the master and harness to be listening"
            assert all(ip == "127.0.0.1" for _, ip, _ in listening), listening
