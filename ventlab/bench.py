"""Lab benchmarks (not a test): prints figures, asserts nothing.

    ./vent bench [--cold]

Node image build (cached; cold with --cold, which rebuilds it), boot-to-sshd for 1 and
for 3 machines started in parallel, and memory per idle machine (its memory cgroup's
usage). Machines run in a throw-away lab (own bridge and subnets), never the
operator's.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cold", action="store_true", help="also time a cold image build")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
