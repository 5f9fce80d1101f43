"""Lab benchmarks (not a test): prints figures, asserts nothing.

    ./vent bench [--cold] [--lab]

Node image build (cached; cold with --cold, which rebuilds it), boot-to-sshd for 1 and
for 3 machines started in parallel, and memory per idle machine (its memory cgroup's
usage). Machines run in a throw-away lab (own bridge and subnets), never the
operator's.

With --lab, the whole flow in the real lab (it must not be running): `lab up` with 1
device, then 1+2 and 1+4 nodes, timing `salt-cloud -m -P` and the orchestration, the
no-op re-run and its changed steps, and memory per machine with Salt and the
runtime stack up; `lab down` after each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from ventlab.machines import host, image, machine, state

NET = host.Network(bridge="vent-labb0", public="198.19.1.0/24", private="100.73.1.0/24")


def _spec(i: int) -> machine.Spec:
    return machine.Spec(id=str(uuid.uuid4()), hostname=f"bench-{i}",
                        public_ip=f"198.19.1.{10 + i}", private_ip=f"100.73.1.{10 + i}",
                        gateway="198.19.1.1")


def _boot(n: int, rootfs, lab) -> tuple[float, list[dict]]:
    started = time.monotonic()
    with ThreadPoolExecutor(n) as pool:
        records = list(pool.map(lambda s: machine.start(s, rootfs, NET, lab),
                                [_spec(i) for i in range(n)]))
    return time.monotonic() - started, records


def _lab_run(controllers: int, workers: int, rerun: bool = False) -> dict:
    """`lab up` with this shape, its recorded timings, then `lab down`."""
    from ventlab import lab

    timings = state.lab_dir() / "logs" / "timings.json"
    timings.unlink(missing_ok=True)
    figures = {}
    try:
        lab.main(["up", "--controllers", str(controllers), "--workers", str(workers)])
        figures = json.loads(timings.read_text())
        if rerun:
            lab.orchestrate()
            figures["no-op re-run"] = json.loads(timings.read_text())["orchestration"]
        figures["memory"] = {m["hostname"]: m["memory"] for m in machine.status() if m["memory"]}
    finally:
        lab.main(["down"])
    return figures


def lab_figures() -> None:
    one = _lab_run(1, 0)
    small = _lab_run(1, 2, rerun=True)
    large = _lab_run(1, 4)
    sc1, sc3 = one["salt-cloud"]["seconds"], small["salt-cloud"]["seconds"]
    o3, o5 = small["orchestration"]["seconds"], large["orchestration"]["seconds"]
    noop = small["no-op re-run"]
    print(f"salt-cloud -m -P, 1 device:   {sc1:6.1f} s")
    print(f"salt-cloud -m -P, 3 devices:  {sc3:6.1f} s ({sc3 / sc1:.2f}x)")
    print(f"orchestration, 1+2 nodes:     {o3:6.1f} s (exit {small['orchestration']['exit']})")
    print(f"orchestration, 1+4 nodes:     {o5:6.1f} s ({o5 / o3:.2f}x)")
    print(f"no-op re-run, 1+2 nodes:      {noop['seconds']:6.1f} s, "
          f"{noop['changed_steps']} steps with changes")
    for host_name, mem in sorted(small["memory"].items()):
        print(f"memory {host_name} (Salt + runtime stack): {mem / 2**20:6.0f} MiB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cold", action="store_true", help="also time a cold image build")
    p.add_argument("--lab", action="store_true", help="also time the full lab flow")
    args = p.parse_args(argv)
    if args.cold:
        t = time.monotonic()
        image.build(force=True)
        print(f"node image build, cold:   {time.monotonic() - t:6.1f} s")
    t = time.monotonic()
    rootfs = image.build()
    print(f"node image build, cached: {time.monotonic() - t:6.2f} s")
    lab = state.lab_dir().parent / "lab-bench"
    try:
        one, _ = _boot(1, rootfs, lab)
        machine.down_all(lab)
        three, _ = _boot(3, rootfs, lab)
        print(f"boot to sshd, 1 machine:  {one:6.1f} s")
        print(f"boot to sshd, 3 machines: {three:6.1f} s ({three / one:.2f}x)")
        time.sleep(5)  # let first-boot work settle before reading memory
        for m in machine.status(lab):
            print(f"memory {m['hostname']}: {m['memory'] / 2**20:6.0f} MiB (idle, no Salt)")
    finally:
        machine.down_all(lab)
        shutil.rmtree(lab, ignore_errors=True)
    if args.lab:
        lab_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
