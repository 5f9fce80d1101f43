"""`./vent lab up` from an empty lab directory, as on a new user's machine: the
emulator counts as started when it answers the API at the URL it wrote itself, not
when some line of an appended log looks like a URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ventlab import lab as labcli
from ventlab.machines import host, state


@pytest.fixture
def empty_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("VENT_LAB_DIR", str(tmp_path / "lab"))
    yield tmp_path / "lab"
    for record in state.read()["processes"].values():
        labcli._stop(record)


def test_the_emulator_starts_in_an_empty_lab_dir(empty_lab):
    assert not empty_lab.exists()
    url = labcli.start_emulator()
    assert labcli._answers(url)
    assert (empty_lab / "emulator.url").read_text().strip() == url
    # Already running and answering: reused, not started twice.
    pid = state.read()["processes"]["emulator"]["pid"]
    assert labcli.start_emulator() == url
    assert state.read()["processes"]["emulator"]["pid"] == pid


def test_a_stale_url_in_the_log_is_not_taken_for_readiness(empty_lab):
    first = labcli.start_emulator()
    labcli._stop(state.read()["processes"]["emulator"])
    assert not labcli._answers(first)
    log = empty_lab / "logs" / "emulator.log"
    assert first in log.read_text()  # what an earlier run leaves behind

    second = labcli.start_emulator()
    assert labcli._answers(second)
    assert log.read_text().count("http://127.0.0.1:") == 2


def test_an_emulator_that_exits_at_start_is_reported_with_its_log(empty_lab, monkeypatch):
    monkeypatch.setattr(labcli, "token", lambda: "")  # the emulator refuses to run without one
    # argparse's error exit (no token), reported as the process ended.
    ended = r"the emulator exited at start \(exit status 2\); see .*emulator.log"
    with pytest.raises(SystemExit, match=ended):
        labcli.start_emulator()


def test_a_master_that_exited_while_starting_is_named_with_its_log(empty_lab):
    log = empty_lab / "logs" / "salt-master.log"
    with state.locked() as st:
        # A pid above the kernel's limit (pid_max is at most 2**22): no such process.
        st["processes"]["salt-master"] = {"pid": 2 ** 22 + 1, "match": "salt-master", "log": str(log)}
    with pytest.raises(SystemExit, match=f"salt-master exited while starting: see {log}"):
        labcli.master_ready(just_started=True, timeout=5)


def test_a_sessions_cpu_counts_its_forked_children(tmp_path):
    # A daemon in a session of its own whose child does the work, as the master's workers do.
    child = tmp_path / "child.py"
    child.write_text("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4:\n    pass\n"
                     "time.sleep(3)\n")
    daemon = tmp_path / "daemon.py"
    daemon.write_text(f"import subprocess, sys\nsubprocess.run([sys.executable, {str(child)!r}])\n")
    parent = subprocess.Popen([sys.executable, str(daemon)], start_new_session=True)
    idle = subprocess.Popen(["sleep", "5"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while host.session_cpu_seconds(parent.pid) < 0.35:
            assert time.monotonic() < deadline, host.session_cpu_seconds(parent.pid)
            time.sleep(0.05)
        assert host.session_cpu_seconds(idle.pid) < 0.05
    finally:
        for proc in (parent, idle):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
