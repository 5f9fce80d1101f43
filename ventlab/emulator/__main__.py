"""Command line of the emulator; prints the API base URL once it listens."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from ventlab.model import model

from .device_backends import load_backend
from .devices import DEFAULT_PROJECT_ID, State
from .server import Emulator

LAB = model.lab_network()


def _listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ventlab.emulator", description=__doc__)
    p.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="address to bind (default 127.0.0.1:0, a free port)",
    )
    p.add_argument(
        "--token", action="append", help="accepted X-Auth-Token (repeatable); default $METAL_AUTH_TOKEN"
    )
    p.add_argument("--state", help="JSON file that keeps projects/devices across restarts")
    p.add_argument(
        "--backend",
        default="null",
        help="what a device is: 'null' (records only) or module:Class, e.g. "
        "ventlab.machines.backend:LabBackend",
    )
    p.add_argument("--project-id", default=DEFAULT_PROJECT_ID)
    p.add_argument("--public-pool", default=LAB["public"])
    p.add_argument("--private-pool", default=LAB["private"])
    p.add_argument("--queued-delay", type=float, default=1.0, help="seconds a new device stays queued")
    p.add_argument(
        "--provision-delay", type=float, default=5.0, help="minimum seconds a device stays provisioning"
    )
    p.add_argument("--url-file", help="write the API base URL here (atomically) once it listens")
    p.add_argument("--log-level", default="warning")
    args = p.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    tokens = args.token or [t for t in (os.environ.get("METAL_AUTH_TOKEN"),) if t]
    if not tokens:
        p.error("no API token: pass --token or set METAL_AUTH_TOKEN")
    state = State(
        tokens,
        backend=load_backend(args.backend),
        state_file=args.state,
        public_pool=args.public_pool,
        private_pool=args.private_pool,
        queued_delay=args.queued_delay,
        provision_delay=args.provision_delay,
        project_id=args.project_id,
    )
    host, port = args.listen
    emu = Emulator(state, host, port)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(emu.url, flush=True)
    if args.url_file:
        tmp = f"{args.url_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(emu.url + "\n")
        os.replace(tmp, args.url_file)
    try:
        emu.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        state.stop()
        emu.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
