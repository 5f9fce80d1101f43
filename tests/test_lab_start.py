"""`./vent lab up` from an empty lab directory, as on a new user's machine: the
emulator counts as started when it answers the API at the URL it wrote itself, not
when some line of an appended log looks like a URL."""

from __future__ import annotations

import pytest

from ventlab import lab as labcli
from ventlab.machines import state


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
