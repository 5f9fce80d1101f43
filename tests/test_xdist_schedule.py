"""`./vent test` runs the suite on xdist workers: a module stays on one worker, and the
lab modules (tests/test_lab_*.py) run alone, after everything else. Checked on a small
suite run on two workers through the repository's own hooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]

RECORDING_TEST = """
import json, os, time
import pytest

def _record(request, name):
    start = time.monotonic()
    time.sleep(0.5)
    with open(os.environ["SCHEDULE_LOG"], "a") as log:
        log.write(json.dumps({"test": name, "module": request.node.module.__name__,
                              "worker": os.environ.get("PYTEST_XDIST_WORKER"),
                              "start": start, "end": time.monotonic()}) + "\\n")
"""


def _suite(pytester, modules: dict[str, bool]):
    """``modules``: module name → whether its tests are lab tests."""
    pytester.makeini("[pytest]\nmarkers =\n    lab: lab\n")
    hooks = "pytest_configure, pytest_sessionfinish, pytest_runtest_setup, pytest_xdist_make_scheduler"
    pytester.makeconftest(f"from tests.conftest import {hooks}  # noqa: F401\n")
    for name, lab in modules.items():
        mark = "@pytest.mark.lab\n" if lab else ""
        body = RECORDING_TEST + "".join(
            f"\n{mark}def test_{i}(request):\n    _record(request, '{name}.{i}')\n" for i in range(3))
        pytester.makepyfile(**{name: body})


def _run(pytester, monkeypatch, *args):
    log = pytester.path / "schedule.jsonl"
    monkeypatch.setenv("SCHEDULE_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadscope", "-p", "no:cacheprovider",
                                           *args, timeout=120)
    rows = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, rows


def test_modules_stay_whole_and_the_lab_runs_alone_after_the_rest(pytester, monkeypatch):
    # Two lab modules make the lab the largest unit, which xdist would hand out first.
    modules = {"test_a": False, "test_b": False, "test_c": False, "test_lab_x": True, "test_lab_y": True}
    _suite(pytester, modules)
    result, rows = _run(pytester, monkeypatch)
    result.assert_outcomes(passed=15)
    assert {row["module"] for row in rows} == set(modules)
    for module in ("test_a", "test_b", "test_c"):
        assert len({row["worker"] for row in rows if row["module"] == module}) == 1, module
    assert len({row["worker"] for row in rows if modules[row["module"]]}) == 1
    others_done = max(row["end"] for row in rows if not modules[row["module"]])
    lab_start = min(row["start"] for row in rows if modules[row["module"]])
    assert lab_start >= others_done
    # The modules before the lab did use both workers.
    assert len({row["worker"] for row in rows if not modules[row["module"]]}) == 2


@pytest.mark.parametrize("selection", [("-m", "lab"), ("-m", "not lab")])
def test_a_selection_of_one_kind_finishes(pytester, monkeypatch, selection):
    _suite(pytester, {"test_a": False, "test_lab_x": True, "test_lab_y": True})
    result, rows = _run(pytester, monkeypatch, *selection)
    lab = selection[1] == "lab"
    result.assert_outcomes(passed=6 if lab else 3)
    if lab:  # both lab modules form one group, on one worker
        assert len({row["worker"] for row in rows}) == 1


def test_a_lab_test_outside_the_lab_modules_fails_before_it_runs(pytester, monkeypatch):
    _suite(pytester, {"test_a": False, "test_b": True})
    result, rows = _run(pytester, monkeypatch)
    result.assert_outcomes(passed=3, errors=3)
    result.stdout.fnmatch_lines(["*lab tests belong in tests/test_lab_*.py, where they run alone*"])
    assert {row["module"] for row in rows} == {"test_a"}
