"""What the refresh step compares before it syncs (salt/_utils/vent_minion_sync.py):
the master's extension files as Salt's roots fileserver serves them, against a
minion's synced copies. The sync itself, and a minion out of date, are exercised on
real Salt in tests/test_orch.py."""

from __future__ import annotations

from conftest import REPO, load_salt_module

sync = load_salt_module("salt/_utils/vent_minion_sync.py", "vent_minion_sync")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_first_root_holding_a_file_wins_and_bytecode_is_left_out(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    write(first / "_modules" / "a.py", "first a")
    write(second / "_modules" / "a.py", "second a")
    write(second / "_modules" / "b.py", "b")
    write(second / "_states" / "sub" / "c.py", "c")
    write(first / "_modules" / "__pycache__" / "a.cpython-311.pyc", "bytecode")
    write(first / "_grains" / "g.py", "a kind Vent does not ship")
    opts = {"fileserver_backend": ["roots"], "file_roots": {"base": [str(first), str(second)]}}
    shipped = sync.shipped(opts)
    assert sorted(shipped) == ["modules/a.py", "modules/b.py", "states/sub/c.py"]

    # A minion holding the same files (and its own bytecode) is up to date...
    extmods = tmp_path / "extmods"
    for key, text in (("modules/a.py", "first a"), ("modules/b.py", "b"), ("states/sub/c.py", "c")):
        write(extmods / key, text)
    write(extmods / "modules" / "__pycache__" / "b.cpython-311.pyc", "its own bytecode")
    assert sync.synced(str(extmods)) == shipped
    # What a new machine's deploy takes along is those same files.
    assert sync.shipped_files(opts) == {"modules/a.py": b"first a", "modules/b.py": b"b",
                                        "states/sub/c.py": b"c"}
    # ...and one whose copy differs, or that lacks one, is not.
    write(extmods / "modules" / "a.py", "second a")
    assert sync.synced(str(extmods)) != shipped
    write(extmods / "modules" / "a.py", "first a")
    (extmods / "states" / "sub" / "c.py").unlink()
    assert sync.synced(str(extmods)) != shipped


def test_only_a_sync_can_tell_for_other_backends_or_environments(tmp_path):
    roots = {"base": [str(tmp_path)]}
    assert sync.shipped({"fileserver_backend": ["roots", "gitfs"], "file_roots": roots}) is None
    assert sync.shipped({"fileserver_backend": "gitfs", "file_roots": roots}) is None
    two_envs = {**roots, "dev": [str(tmp_path)]}
    assert sync.shipped({"fileserver_backend": ["roots"], "file_roots": two_envs}) is None
    assert sync.shipped({"fileserver_backend": "roots", "file_roots": roots}) == {}
    assert sync.shipped_files({"fileserver_backend": "gitfs", "file_roots": roots}) is None


def test_the_repository_ships_the_kinds_the_sync_job_syncs():
    shipped = sync.shipped({"fileserver_backend": ["roots"], "file_roots": {"base": [str(REPO / "salt")]}})
    assert {key.split("/")[0] for key in shipped} == set(sync.KINDS)
    syncs = [f"saltutil.sync_{kind}" for kind in sync.KINDS] + ["saltutil.refresh_modules"]
    assert sync.job()[0] == syncs + ["saltutil.refresh_pillar"]
    # after the check job, which refreshed the pillar already
    assert sync.job(pillar=False)[0] == syncs
    assert sync.check_job()[0] == [sync.SYNCED, "saltutil.refresh_pillar"]
    # one module refresh, waited for, so the next job runs the synced code
    args = dict(zip(*sync.job(pillar=False), strict=True))
    assert [a[0]["refresh"] for fun, a in args.items() if fun.startswith("saltutil.sync_")] == [False] * 3
    assert args["saltutil.refresh_modules"][0]["async"] is False
