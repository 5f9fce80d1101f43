"""`./vent lab up --stop-after PHASE`: the deploy ends after a phase of the cluster
model (vent:orchestrate:stop_after, which tests/test_orch.py checks on real Salt),
and a name that is not a phase is refused before anything starts."""

from __future__ import annotations

import json
import sys

import pytest

from ventlab import lab as labcli


def test_an_unknown_phase_is_refused_naming_the_phases(capsys):
    with pytest.raises(SystemExit) as exc:
        labcli.main(["up", "--stop-after", "etdc"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--stop-after: invalid choice: 'etdc'" in err and "'runtime'" in err


def test_the_phase_reaches_the_orchestration_as_pillar(tmp_path, monkeypatch):
    # A test double for salt-run: it records its arguments and answers one ok step.
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    argv_file = tmp_path / "argv.json"
    step = {"vent_orch_|-vent-refresh_|-vent-refresh_|-refresh": {
        "result": True, "comment": "refreshed 1 minion(s)", "changes": {}, "__run_num__": 0, "duration": 5}}
    (fake_bin / "salt-run").write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(argv_file)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        f"print({json.dumps(json.dumps({'data': {'master': step}}))})\n")
    (fake_bin / "salt-run").chmod(0o755)
    monkeypatch.setattr(labcli, "BIN", fake_bin)
    monkeypatch.setenv("VENT_LAB_DIR", str(tmp_path / "lab"))

    assert labcli.orchestrate("refresh") == 0
    pillar = json.loads(argv_file.read_text())[-1]
    assert pillar == 'pillar={"vent": {"orchestrate": {"stop_after": "refresh"}}}'
    assert labcli.orchestrate() == 0
    assert not [a for a in json.loads(argv_file.read_text()) if a.startswith("pillar=")]
