"""The emulator's lab backend: every Packet device is a real local machine.

    python -m ventlab.emulator --backend ventlab.machines.backend:LabBackend ...

Where the lab lives and which bridge/subnets it uses come from the environment the
lab command gives the emulator (``VENT_LAB_DIR``, ``VENT_LAB_BRIDGE``,
``VENT_LAB_BINDS_RO``: host directories every machine sees read-only), so the
emulator can construct the backend without arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

from ventlab.emulator.device_backends import BackendError

from . import host, image, machine, state


class LabBackend:
    def __init__(self, lab: Path | None = None, net: host.Network | None = None,
                 rootfs: Path | None = None, boot_timeout: float = machine.BOOT_TIMEOUT):
        self.lab = lab or state.lab_dir()
        self.net = net or host.Network(bridge=os.environ.get("VENT_LAB_BRIDGE", "vent-lab0"))
        self._rootfs = rootfs
        self.boot_timeout = boot_timeout
        # The lab command names the artifact mirror (vent:artifacts:mirror of its pillar).
        self.binds_ro = [d for d in os.environ.get("VENT_LAB_BINDS_RO", "").split(":") if d]

    def rootfs(self) -> Path:
        if self._rootfs is None:
            # Cached: only the first device after an input change pays for a build.
            self._rootfs = image.build()
        return self._rootfs

    def provision(self, device: dict) -> None:
        try:
            spec = machine.spec_from_device(device)
            spec.binds_ro = self.binds_ro
            machine.start(spec, self.rootfs(), self.net, self.lab, self.boot_timeout)
        except (machine.MachineError, RuntimeError, OSError) as exc:
            raise BackendError(f"{device.get('hostname')}: {exc}") from exc

    def power_on(self, device: dict) -> None:
        self.provision(device)

    def power_off(self, device: dict) -> None:
        record = machine.find(device["id"], self.lab)
        if record:
            machine.stop(record["name"], self.lab)

    def destroy(self, device: dict) -> None:
        record = machine.find(device["id"], self.lab)
        if record:
            machine.destroy(record["name"], self.lab)
