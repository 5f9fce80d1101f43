"""Memory figures of a lab machine (what `./vent bench` prints), read from cgroup files
laid out as the kernel writes them for cgroup v1 and v2."""

from __future__ import annotations

from ventlab.machines import host

MIB = 2**20


def _cgroup(path, files):
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return str(path)


def test_v1_working_set_is_usage_less_inactive_file_cache(tmp_path):
    pids = _cgroup(tmp_path / "pids", {"pids.current": "12\n"})
    memory = _cgroup(tmp_path / "memory", {
        "memory.usage_in_bytes": f"{900 * MIB}\n",
        "memory.stat": f"cache {400 * MIB}\nrss {40 * MIB}\ninactive_file {20 * MIB}\n"
                       f"total_inactive_file {350 * MIB}\ntotal_rss {450 * MIB}\n",
    })
    assert host.memory_usage([pids, memory]) == 900 * MIB
    assert host.memory_working_set([pids, memory]) == 550 * MIB
    assert host.memory_anon([pids, memory]) == 450 * MIB  # the hierarchy's, not "rss"


def test_v2_working_set_reads_the_unified_files(tmp_path):
    unified = _cgroup(tmp_path / "vl-1", {
        "memory.current": f"{800 * MIB}\n",
        "memory.stat": f"anon {300 * MIB}\nfile {450 * MIB}\ninactive_file {260 * MIB}\n",
    })
    assert host.memory_usage([unified]) == 800 * MIB
    assert host.memory_working_set([unified]) == 540 * MIB
    assert host.memory_anon([unified]) == 300 * MIB


def test_no_memory_cgroup_gives_no_figure(tmp_path):
    pids = [_cgroup(tmp_path / "pids", {"pids.current": "1\n"})]
    assert host.memory_working_set(pids) is None and host.memory_anon(pids) is None
