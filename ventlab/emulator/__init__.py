"""A Packet / Equinix Metal API v1 emulator for tests and the local lab.

    python -m ventlab.emulator --listen 127.0.0.1:0 --token "$METAL_AUTH_TOKEN" \
        --state .vent/emulator.json --backend ventlab.machines.backend:LabBackend

prints its base URL (``http://127.0.0.1:<port>/metal/v1``), to be used as the provider's
``api_url``. ``Emulator`` + ``State`` run it in-process (tests).
"""

from .device_backends import BackendError, DeviceBackend, NullBackend, load_backend
from .devices import DEFAULT_PROJECT_ID, USER_ID, ApiError, State
from .server import Emulator

__all__ = [
    "DEFAULT_PROJECT_ID",
    "ApiError",
    "BackendError",
    "DeviceBackend",
    "Emulator",
    "NullBackend",
    "USER_ID",
    "State",
    "load_backend",
]
