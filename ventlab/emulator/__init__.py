"""A Packet / Equinix Metal API v1 emulator for tests and the local lab.

    python -m ventlab.emulator --listen 127.0.0.1:0 --token "$METAL_AUTH_TOKEN" \
        --state .vent/emulator.json --backend ventlab.machines.backend:LabBackend

prints its base URL (``http://127.0.0.1:<port>/metal/v1``), to be used as the provider's
``api_url``. ``Emulator`` + ``State`` run it in-process (tests).
"""

from .backends import BackendError, DeviceBackend, NullBackend, load_backend
from .server import Emulator
from .state import DEFAULT_PROJECT_ID, ApiError, State

__all__ = [
    "DEFAULT_PROJECT_ID",
    "ApiError",
    "BackendError",
    "DeviceBackend",
    "Emulator",
    "NullBackend",
    "State",
    "load_backend",
]
