"""The read-only catalogue the emulator serves: metros, plans and operating systems, and
the facilities devices show they are in, in the shapes of the Packet / Equinix Metal API v1 (see the
recorded responses in apache-libcloud's ``test/compute/fixtures/equinixmetal``).

IDs are derived from names (uuid5) so they are stable across runs and state files.
"""

from __future__ import annotations

import uuid

_NS = uuid.UUID("6f1c8a52-2c4e-4f0e-9d3a-0a4f5e7b9c10")


def stable_id(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}:{name}"))


METROS = [
    ("am", "Amsterdam", "NL"),
    ("ny", "New York", "US"),
    ("sv", "Silicon Valley", "US"),
    ("da", "Dallas", "US"),
]

# code, name, metro code
FACILITIES = [
    ("ams1", "Amsterdam, NL", "am"),
    ("am6", "Amsterdam, NL", "am"),
    ("ewr1", "Parsippany, NJ", "ny"),
    ("sjc1", "Sunnyvale, CA", "sv"),
    ("da11", "Dallas, TX", "da"),
]

# slug, cpu, cores, memory, hourly
PLANS = [
    ("c2.medium.x86", "AMD EPYC 7401P", 24, "64GB", 1.00),
    ("c3.small.x86", "Intel Xeon E-2278G", 8, "32GB", 0.50),
    ("m3.large.x86", "AMD EPYC 7502P", 32, "256GB", 3.10),
    ("t1.small.x86", "Intel Atom C2550", 4, "8GB", 0.07),
]

# slug, name, distro, version
OPERATING_SYSTEMS = [
    ("debian_12", "Debian 12", "debian", "12"),
    ("ubuntu_22_04", "Ubuntu 22.04 LTS", "ubuntu", "22.04"),
    ("ubuntu_24_04", "Ubuntu 24.04 LTS", "ubuntu", "24.04"),
    ("custom_ipxe", "Custom iPXE", "custom_ipxe", "1"),
]


def metro(code: str) -> dict | None:
    for c, name, country in METROS:
        if c == code:
            return {
                "id": stable_id("metro", c),
                "code": c,
                "name": name,
                "country": country,
                "href": f"/locations/metros/{stable_id('metro', c)}",
            }
    return None


def metros() -> list[dict]:
    return [metro(c) for c, _, _ in METROS]


def facility(code: str) -> dict | None:
    for c, name, metro_code in FACILITIES:
        if c == code:
            return {
                "id": stable_id("facility", c),
                "code": c,
                "name": name,
                "features": ["baremetal", "backend_transfer", "global_ipv4", "layer_2"],
                "ip_ranges": [],
                "metro": metro(metro_code),
                "href": f"/facilities/{stable_id('facility', c)}",
            }
    return None


def facilities_in_metro(metro_code: str) -> list[str]:
    return [c for c, _, m in FACILITIES if m == metro_code]


def plan(slug: str) -> dict | None:
    for s, cpu, cores, memory, hourly in PLANS:
        if s == slug:
            return {
                "id": stable_id("plan", s),
                "slug": s,
                "name": s,
                "description": f"{cores} cores {cpu}, {memory} RAM",
                "line": "baremetal",
                "class": s,
                "specs": {
                    "cpus": [{"count": 1, "type": cpu}],
                    "memory": {"total": memory},
                    "drives": [{"count": 2, "size": "480GB", "type": "SSD"}],
                    "nics": [{"count": 2, "type": "10Gbps"}],
                    "features": {"raid": True, "txt": True},
                },
                "pricing": {"hour": hourly},
                "deployment_types": ["on_demand"],
                "available_in": [
                    {"href": f"/facilities/{stable_id('facility', f)}"} for f, _, _ in FACILITIES
                ],
                "available_in_metros": [
                    {"href": f"/locations/metros/{stable_id('metro', m)}"} for m, _, _ in METROS
                ],
                "href": f"/plans/{stable_id('plan', s)}",
            }
    return None


def plans() -> list[dict]:
    return [plan(p[0]) for p in PLANS]


def operating_system(slug: str) -> dict | None:
    for s, name, distro, version in OPERATING_SYSTEMS:
        if s == slug:
            return {
                "id": stable_id("os", s),
                "slug": s,
                "name": name,
                "distro": distro,
                "version": version,
                "provisionable_on": [p[0] for p in PLANS],
                "preinstallable": s != "custom_ipxe",
                "pricing": {},
                "licensed": False,
            }
    return None


def operating_systems() -> list[dict]:
    return [operating_system(o[0]) for o in OPERATING_SYSTEMS]

