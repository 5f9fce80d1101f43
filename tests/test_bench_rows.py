"""`./vent bench` prints a figure only for a run that succeeded: a failed no-op re-run
once printed "15.2 s" as if it were the re-run's time."""

import os
import time

from ventlab import bench
from ventlab.machines import host


def test_failed_run_prints_no_figure():
    line = bench._row("no-op re-run, 1+2", {"seconds": 15.2, "exit": 2}, 10)
    assert "FAILED (exit 2 after 15.2 s)" in line
    assert " met" not in line and "MISSED" not in line


def test_successful_run_prints_figure_target_and_ratio():
    assert bench._row("smoke", {"seconds": 12.0, "exit": 0}, 30, ("a job", 1.5)).split() == [
        "smoke", "12.0", "s", "target", "30.0", "s", "met", "(8.0x", "a", "job)"]
    assert "MISSED" in bench._row("smoke", {"seconds": 31.0}, 30)


def test_by_step_names_each_step_without_its_prefix():
    run = {"seconds": 3.0, "steps": {"vent-refresh": 1.24, "vent-pki-nodes": 1.76}}
    assert bench._by_step("no-op re-run", run) == "no-op re-run by step: refresh 1.2, pki-nodes 1.8"


def test_by_step_says_how_busy_the_host_was_and_the_least_time_of_that_work():
    cores = os.cpu_count()
    run = {"seconds": 10.0, "steps": {"vent-refresh": 1.0}, "cpu_busy": 0.8}
    assert bench._by_step("orchestration 1+4", run).endswith(
        f"; host CPU busy 80% of {cores} cores, {8 * cores:.0f} core-s of work,"
        f" no less than 8.0 s on {cores} cores")


def test_cpu_use_reads_the_host_between_two_readings():
    since = host.cpu_jiffies()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # keep one core busy, bounded
        pass
    busy, stolen = host.cpu_use(since)
    # This process alone kept one of the cores busy.
    assert 1 / (os.cpu_count() * 2) <= busy <= 1, busy
    assert 0 <= stolen <= 1 - busy, stolen


def test_stolen_time_is_neither_busy_nor_idle():
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy, stolen, total = host.parse_cpu_line("cpu  600 10 200 900 50 30 10 200 40 0")
    assert (busy, stolen, total) == (850, 200, 2000)  # guest is inside user already
    # A kernel without the steal column (before 2.6.11) has none.
    assert host.parse_cpu_line("cpu  600 10 200 900 50 30 10") == (850, 0, 1800)


def test_by_step_says_how_much_of_the_cores_time_the_hypervisor_took():
    run = {"seconds": 10.0, "steps": {"vent-refresh": 1.0}, "cpu_busy": 0.8, "cpu_steal": 0.06}
    assert bench._by_step("orchestration 1+4", run).endswith(
        f" on {os.cpu_count()} cores, 6% of the cores' time taken by the hypervisor")
    # A share under 1% is not named.
    assert "hypervisor" not in bench._by_step("orchestration 1+4", {**run, "cpu_steal": 0.009})


def test_by_step_splits_the_work_between_the_machines_and_the_host():
    cores = os.cpu_count()
    run = {"seconds": 10.0, "steps": {"vent-refresh": 1.0}, "cpu_busy": 0.9,
           "cpu_by_machine": {"worker-0": 3.5, "controller-0": 6.3}}
    work = 9 * cores
    assert bench._by_step("no-op re-run", run).endswith(
        f"; of it controller-0 6.3, worker-0 3.5, the host's own processes {work - 9.8:.1f}")


def test_cpu_seconds_reads_v1_cpuacct_or_v2_cpu_stat(tmp_path):
    v1 = tmp_path / "cpuacct"
    v1.mkdir()
    (v1 / "cpuacct.usage").write_text("2500000000\n")
    v2 = tmp_path / "unified"
    v2.mkdir()
    (v2 / "cpu.stat").write_text("usage_usec 1250000\nuser_usec 1000000\nsystem_usec 250000\n")
    assert host.cpu_seconds([str(v1)]) == 2.5
    assert host.cpu_seconds([str(v2)]) == 1.25
    assert host.cpu_seconds([str(tmp_path)]) is None  # a cgroup with neither file


def test_cpu_since_counts_a_machine_powered_on_meanwhile_from_its_start(monkeypatch):
    from ventlab.machines import machine

    now = {"controller-0": (101, 9.5), "worker-0": (207, 6.3), "worker-1": (303, 2.0)}
    monkeypatch.setattr(machine, "cpu_seconds", lambda lab=None: now)
    # worker-0 was powered off and on (a new nspawn, new cgroups whose counters started
    # at zero); worker-1 started after the first reading.
    assert machine.cpu_since({"controller-0": (101, 3.0), "worker-0": (202, 4.0)}) == {
        "controller-0": 6.5, "worker-0": 6.3, "worker-1": 2.0}


def _cgroup(path, usec):
    path.mkdir(parents=True)
    (path / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec {usec}\nsystem_usec 0\n")


def test_unit_cpu_reads_the_services_systemd_and_pods_inside_a_machine(tmp_path, monkeypatch):
    from ventlab.machines import machine

    v1, unified = tmp_path / "v1", tmp_path / "unified"
    v1.mkdir()  # a hierarchy where the machine's systemd made no cgroups
    _cgroup(unified / "payload" / "system.slice" / "salt-minion.service", 4_400_000)
    _cgroup(unified / "payload" / "system.slice" / "system-getty.slice", 900_000)  # not a service
    _cgroup(unified / "payload" / "init.scope", 1_300_000)
    _cgroup(unified / "payload" / "kubepods", 200_000)
    machines = [{"hostname": "worker-0", "running": True, "cgroups": [str(v1), str(unified)]},
                {"hostname": "worker-1", "running": False, "cgroups": [str(unified)]}]
    monkeypatch.setattr(machine, "status", lambda lab=None: machines)
    before = {"worker-0": {"salt-minion.service": 0.4, "init.scope": 1.28, "kubepods": 3.0}}
    assert machine.unit_cpu_seconds() == {"worker-0": {
        "salt-minion.service": 4.4, "init.scope": 1.3, "kubepods": 0.2}}
    # init.scope's 0.02 s is below what is worth a column; kubepods was made again
    # meanwhile (its counter went back), so it counts from its start.
    assert machine.unit_cpu_since(before) == {"worker-0": {"salt-minion.service": 4.0, "kubepods": 0.2}}


def test_by_unit_gives_each_controller_and_the_mean_worker():
    run = {"cpu_by_unit": {
        "controller-0": {"kube-apiserver.service": 4.6, "salt-minion.service": 9.4, "etcd.service": 1.5},
        "worker-0": {"salt-minion.service": 4.0, "init.scope": 1.2, "kubepods": 0.4},
        "worker-1": {"salt-minion.service": 5.0, "init.scope": 1.4}}}
    assert bench._by_unit(run, top=2) == ("controller-0: salt-minion 9.4, kube-apiserver 4.6; "
                                          "a worker (mean of 2): salt-minion 4.5, init.scope 1.3")


def test_scaling_splits_each_added_workers_work_and_the_larger_runs_time():
    cores = os.cpu_count()
    small = {"seconds": 20.0, "cpu_busy": 1.5 / cores,  # 30 core-s
             "cpu_by_machine": {"controller-0": 12.0, "worker-0": 7.0, "worker-1": 7.0}}
    large = {"seconds": 30.0, "cpu_busy": 1.6 / cores,  # 48 core-s
             "cpu_by_machine": {"controller-0": 14.0, **{f"worker-{i}": 7.5 for i in range(4)}}}
    # 18 core-s more for 2 workers: the workers' machines 30 against 14, the controller
    # 14 against 12, and the host's own processes 4 in both (30 - 26, 48 - 44).
    assert bench._scaling(small, large, 26.0) == (
        "1+4 over 1+2: 18 core-s more CPU work, 9.0 a worker (the workers' machines 8.0, the"
        f" controllers 1.0, the host 0.0); 30.0 s = {48 / cores:.1f} s of that work on {cores} cores"
        f" + {30 - 48 / cores:.1f} s with cores idle; target 26.0 s"
        # 26 s less the 30 - 48/cores s idle, on every core, less 1+2's 30 core-s,
        # shared by the 2 added workers.
        + (f", which with that idle time leaves {(18 - 4 * cores) / 2:.1f} core-s a worker"
           if cores < 4.5 else ", which that idle time alone exceeds"))
    assert bench._scaling({**small, "cpu_busy": None}, large, 26.0) is None


def test_scaling_names_the_work_a_worker_may_cost_to_meet_the_target(monkeypatch):
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    small = {"seconds": 17.0, "cpu_busy": 0.7,  # 23.8 core-s
             "cpu_by_machine": {"controller-0": 9.0, "worker-0": 5.0, "worker-1": 5.0}}
    large = {"seconds": 25.0, "cpu_busy": 0.76,  # 38 core-s: 19 s of work, 6 s idle
             "cpu_by_machine": {"controller-0": 10.6, **{f"worker-{i}": 5.2 for i in range(4)}}}
    # (22.1 s - 6 s idle) * 2 cores - 23.8 core-s = 8.4 core-s for 2 added workers.
    assert bench._scaling(small, large, 22.1).endswith(
        "target 22.1 s, which with that idle time leaves 4.2 core-s a worker")
    assert bench._scaling(small, large, 5.9).endswith(
        "target 5.9 s, which that idle time alone exceeds")


def test_scaling_counts_stolen_time_as_neither_work_nor_idle(monkeypatch):
    monkeypatch.setattr(bench.os, "cpu_count", lambda: 2)
    small = {"seconds": 17.0, "cpu_busy": 0.7,  # 23.8 core-s
             "cpu_by_machine": {"controller-0": 9.0, "worker-0": 5.0, "worker-1": 5.0}}
    large = {"seconds": 25.0, "cpu_busy": 0.76, "cpu_steal": 0.08,  # 38 core-s: 19 s of work
             "cpu_by_machine": {"controller-0": 10.6, **{f"worker-{i}": 5.2 for i in range(4)}}}
    # 25 s = 19 s of work + 2 s (8% of 25 s) stolen + 4 s idle; (22.1 - 4 - 2) * 2 - 23.8
    # = 8.4 core-s for 2 added workers, as when those 6 s were all idle.
    assert bench._scaling(small, large, 22.1).endswith(
        "25.0 s = 19.0 s of that work on 2 cores + 2.0 s taken by the hypervisor + 4.0 s with"
        " cores idle; target 22.1 s, which with that idle and stolen time leaves 4.2 core-s a worker")


def test_pairs_show_the_stolen_shares_where_the_hypervisor_took_any():
    quiet = ({"orchestration": {"seconds": 20.0}}, {"orchestration": {"seconds": 26.0}})
    busy = ({"orchestration": {"seconds": 20.0, "cpu_steal": 0.01}},
            {"orchestration": {"seconds": 29.0, "cpu_steal": 0.09}})
    almost = ({"orchestration": {"seconds": 20.0, "cpu_steal": 0.005}}, quiet[1])
    assert bench._pairs_row([quiet, busy, almost], 1.3) == (
        "1+4 against 1+2, 3 pairs taken in turn: 20.0 / 26.0 s (1.30x), "
        "20.0 / 29.0 s (1.45x, stolen 1% / 9%), 20.0 / 26.0 s (1.30x); median 1.30x, target 1.3x met")


def _pair(small_s, large_s, small_exit=0, large_exit=0):
    return ({"orchestration": {"seconds": small_s, "exit": small_exit}},
            {"orchestration": {"seconds": large_s, "exit": large_exit}})


def test_scaling_is_judged_on_the_median_pair_not_the_luckiest():
    # Ratios 1.10, 1.45 and 1.35 in the order they ran: one lucky pair is no verdict.
    pairs = [_pair(20.0, 22.0), _pair(20.0, 29.0), _pair(20.0, 27.0)]
    assert bench._median_pair(pairs) is pairs[2]
    line = bench._pairs_row(pairs, 1.3)
    assert line == ("1+4 against 1+2, 3 pairs taken in turn: 20.0 / 22.0 s (1.10x), "
                    "20.0 / 29.0 s (1.45x), 20.0 / 27.0 s (1.35x); median 1.35x, target 1.3x MISSED")
    assert bench._pairs_row([pairs[0], pairs[2], _pair(21.0, 25.0)], 1.3).endswith(
        "median 1.19x, target 1.3x met")


def test_an_even_number_of_pairs_is_judged_on_the_slower_middle_one():
    pairs = [_pair(20.0, 24.0), _pair(20.0, 28.0)]  # 1.20x and 1.40x
    assert bench._median_pair(pairs) is pairs[1]
    assert bench._median_pair(list(reversed(pairs))) is pairs[1]


def test_a_failed_orchestration_gives_no_scaling_verdict():
    pairs = [_pair(20.0, 24.0), _pair(20.0, 6.0, large_exit=1), _pair(21.0, 25.0)]
    assert bench._median_pair(pairs) is None
    line = bench._pairs_row(pairs, 1.3)
    assert "FAILED (exits 0, 1)" in line
    assert line.endswith("no verdict: an orchestration failed (see the log above)")
    assert " met" not in line and "MISSED" not in line


def test_lab_figures_take_pairs_in_turn_and_judge_the_median_one(monkeypatch, capsys):
    # 1+2 and 1+4 orchestrations in the order the bench runs them: pairs of 1.50x,
    # 1.20x and 1.25x. The median pair (the third) gives both orchestration rows; the
    # first 1+2 alone has the no-op re-run, smoke and memory.
    orchestrations = iter([20.0, 30.0, 25.0, 30.0, 24.0, 30.0])
    # salt-cloud of one device, then of the 1+2's three: pairs of 1.40x, 1.10x and
    # 1.20x, judged on the third.
    one_device, three_devices = iter([4.0, 4.0, 5.0]), iter([5.6, 4.4, 6.0])
    calls = []

    def lab_run(controllers, workers, rerun=False, stop_after=None):
        calls.append((workers, rerun))
        if workers == 0:
            return {"salt-cloud": {"seconds": next(one_device)}}
        figures = {"lab up": {"seconds": 30.0 + len(calls)},
                   "orchestration": {"seconds": next(orchestrations), "exit": 0}}
        if workers == 2:
            figures["salt-cloud"] = {"seconds": next(three_devices)}
        if rerun:
            figures.update({"salt job floor": 1.0, "smoke": {"seconds": 20.0},
                            "no-op re-run": {"seconds": 6.0, "changed_steps": 0},
                            "memory": {"after vent.smoke": {"worker-0": (2**29, 250 * 2**20, 2**27)}}})
        return figures

    monkeypatch.setattr(bench, "_lab_run", lab_run)
    bench.lab_figures(1.0, 1.2, pairs=3)
    assert calls == [(0, False), (2, True), (4, False), (0, False), (2, False), (4, False),
                     (0, False), (2, False), (4, False)]
    out = capsys.readouterr().out.splitlines()
    rows = {line.split("  ")[0].strip(): line for line in out}
    assert rows["salt-cloud -m -P, 3 devices"].split()[5:11] == ["6.0", "s", "target", "15.0", "s", "met"]
    assert [line for line in out if line.startswith("salt-cloud -m -P, 3 devices against 1")] == [
        "salt-cloud -m -P, 3 devices against 1, 3 pairs taken in turn: 4.0 / 5.6 s (1.40x), "
        "4.0 / 4.4 s (1.10x), 5.0 / 6.0 s (1.20x); median 1.20x, target 1.3x met"]
    assert rows["orchestration, 1+2"].split()[2:4] == ["24.0", "s"]
    assert rows["orchestration, 1+4"].split()[2:9] == ["30.0", "s", "target", "31.2", "s", "met", "(30.0x"]
    assert "1.25x 1+2 (target 1.3x)" in rows["orchestration, 1+4"]
    assert [line for line in out if line.startswith("1+4 against 1+2")] == [
        "1+4 against 1+2, 3 pairs taken in turn: 20.0 / 30.0 s (1.50x), 25.0 / 30.0 s (1.20x), "
        "24.0 / 30.0 s (1.25x); median 1.25x, target 1.3x met"]
    assert rows["lab up, 1+2"].split()[3:5] == ["32.0", "s"]  # the first 1+2's
    # The median pair's steps are the "orchestration 1+2/1+4 by step" lines; the others'
    # are named by their pair.
    assert [line.split(" by step")[0] for line in out if line.startswith("pair ")] == [
        "pair 1 of 3, orchestration 1+2", "pair 1 of 3, orchestration 1+4",
        "pair 2 of 3, orchestration 1+2", "pair 2 of 3, orchestration 1+4"]
    assert any(line.startswith("memory worker-0 (after vent.smoke): working set    250 MiB") for line in out)
