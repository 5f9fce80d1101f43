"""What an emulated device *is*.

The emulator owns the API side (state, addresses, transitions); a backend owns the
machine. ``NullBackend`` only records what it was asked, for unit tests; the lab backend
(``ventlab.machines.backend:LabBackend``) boots a real local machine per device.

The emulator calls every method from one worker thread per device, in request order, so
a backend never sees ``destroy`` racing ``provision`` for the same device.
"""

from __future__ import annotations

import importlib
import threading
from typing import Protocol, runtime_checkable


class BackendError(Exception):
    """The machine behind a device could not be provisioned/stopped; the message is
    shown to the API user (device goes ``failed``)."""


@runtime_checkable
class DeviceBackend(Protocol):
    def provision(self, device: dict) -> None:
        """``device`` is the API JSON of the device (id, hostname, tags, userdata,
        ip_addresses already assigned) plus ``"ssh_keys"``: the public key strings of
        the project/user. Blocks until the machine is booted and reachable, or raises
        BackendError."""

    def power_off(self, device: dict) -> None:
        """Power off: really stops the machine."""

    def power_on(self, device: dict) -> None:
        """Boots a stopped machine with its disk as it was; blocks like provision."""

    def destroy(self, device: dict) -> None:
        """Removes the machine; called after DELETE of the device."""


class NullBackend:
    """Records the calls and does nothing else: devices exist only as API records."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def _record(self, op: str, device: dict) -> None:
        with self._lock:
            self.calls.append((op, device["id"]))

    def provision(self, device: dict) -> None:
        self._record("provision", device)

    def power_off(self, device: dict) -> None:
        self._record("power_off", device)

    def power_on(self, device: dict) -> None:
        self._record("power_on", device)

    def destroy(self, device: dict) -> None:
        self._record("destroy", device)


def load_backend(spec: str | None) -> DeviceBackend:
    """``module.path:ClassName`` → an instance (constructed without arguments);
    ``None``/``"null"`` → NullBackend."""
    if not spec or spec == "null":
        return NullBackend()
    module_name, sep, attr = spec.partition(":")
    if not sep or not attr:
        raise ValueError(f"backend must look like 'package.module:ClassName', got {spec!r}")
    cls = getattr(importlib.import_module(module_name), attr)
    backend = cls()
    if not isinstance(backend, DeviceBackend):
        raise TypeError(f"{spec} does not implement provision/power_off/power_on/destroy")
    return backend
