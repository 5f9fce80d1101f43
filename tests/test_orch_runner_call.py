"""The orchestration's validate and status steps call their runner in salt-run's own
process: what they make of a runner that raises, and that the runner gets its
arguments (the real runners are run by test_orch.py)."""

from __future__ import annotations

from conftest import load_salt_module

orch = load_salt_module("salt/_states/vent_orch.py", "vent_orch_under_test")
orch.__opts__ = {}


def _runners(monkeypatch, functions):
    calls = []

    def runner(opts, utils=None, **kwargs):
        calls.append(utils)
        return functions

    monkeypatch.setattr(orch.salt.loader, "runner", runner)
    monkeypatch.setattr(orch.salt.loader, "utils", lambda opts: "the master's utils")
    return calls


def test_validation_errors_fail_the_step_with_their_lines(monkeypatch):
    asked = []

    def validation(minion_id=None):
        asked.append(minion_id)
        return {"errors": ["vent:flannel:backend: 'udp' is not one of vxlan"], "warnings": ["w"]}

    calls = _runners(monkeypatch, {"vent.validation": validation})
    ret = orch.check("vent-validate", minion_id="controller-0")
    assert asked == ["controller-0"] and calls == ["the master's utils"]
    assert ret["result"] is False
    assert ret["comment"].splitlines() == ["ERROR vent:flannel:backend: 'udp' is not one of vxlan",
                                           "WARNING w"]


def test_a_validation_that_raises_fails_the_step_saying_so(monkeypatch):
    def validation(minion_id=None):
        raise RuntimeError("pillar root unreadable")

    _runners(monkeypatch, {"vent.validation": validation})
    ret = orch.check("vent-validate", minion_id="controller-0")
    assert ret["result"] is False
    assert "vent.validation raised RuntimeError: pillar root unreadable" in ret["comment"]


def test_a_status_table_that_raises_is_reported_not_all_up(monkeypatch):
    def status():
        raise RuntimeError("mine unreadable")

    _runners(monkeypatch, {"vent.status": status})
    ret = orch.status("vent-status")
    assert ret["result"] is True  # informative: never fails the run
    assert ret["comment"].splitlines() == ["NOT all up", "vent.status raised RuntimeError: mine unreadable"]
