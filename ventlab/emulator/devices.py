"""Projects, devices, SSH keys and addresses of the emulated API, and the device
lifecycle (queued → provisioning → active, or failed; delete once provisioning ended).

The API as it last was: devices are placed by metro (facilities in a request are
refused, as the API did from 2023) and on demand (the spot market closed on
2025-06-20).

All mutation happens under one lock; each device has one worker thread that runs its
backend calls in order. With a state file every change is written atomically, so an
emulator restarted on the same file still knows its devices.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import os
import queue
import threading
import time
import uuid
from pathlib import Path

from ventlab.model import model

from . import catalog
from .device_backends import BackendError, DeviceBackend, NullBackend

# The emulator hands out the lab's addresses unless told otherwise.
LAB = model.lab_network()

log = logging.getLogger(__name__)

DEFAULT_PROJECT_ID = catalog.stable_id("project", "vent")
# The one user behind every token: ``user_ssh_keys`` names users (whose SSH keys go on
# the device), not keys.
USER_ID = catalog.stable_id("user", "vent")
BILLING_CYCLES = ("hourly", "daily", "monthly", "yearly")


class ApiError(Exception):
    """An error answer of the API: HTTP status plus the ``errors`` list."""

    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(f"{status}: {'; '.join(errors)}")
        self.status = status
        self.errors = list(errors)


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def fingerprint(public_key: str) -> str:
    parts = public_key.split()
    try:
        blob = base64.b64decode(parts[1])
    except (IndexError, ValueError) as exc:
        raise ApiError(422, "key is not a valid OpenSSH public key") from exc
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


class AddressPool:
    """Hands out single addresses of one network; network and first host (the lab's
    gateway) are never given out."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self.gateway = self.network.network_address + 1
        self.used: set[str] = set()

    def allocate(self) -> str:
        for host in self.network.hosts():
            if host == self.gateway or str(host) in self.used:
                continue
            self.used.add(str(host))
            return str(host)
        raise ApiError(422, f"no free addresses left in {self.network}")

    def release(self, address: str) -> None:
        self.used.discard(address)


class State:
    def __init__(
        self,
        tokens: list[str],
        backend: DeviceBackend | None = None,
        state_file: str | Path | None = None,
        public_pool: str = LAB["public"],
        private_pool: str = LAB["private"],
        queued_delay: float = 1.0,
        provision_delay: float = 5.0,
        project_id: str = DEFAULT_PROJECT_ID,
        project_name: str = "vent",
    ) -> None:
        if not tokens or not all(tokens):
            raise ValueError("the emulator needs at least one non-empty API token")
        self.tokens = set(tokens)
        self.backend = backend or NullBackend()
        self.state_file = Path(state_file) if state_file else None
        self.public = AddressPool(public_pool)
        self.private = AddressPool(private_pool)
        self.queued_delay = queued_delay
        self.provision_delay = provision_delay
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.projects: dict[str, dict] = {}
        self.devices: dict[str, dict] = {}
        self.ssh_keys: dict[str, dict] = {}
        self.fail_next_devices = 0
        self._workers: dict[str, queue.Queue] = {}
        if self.state_file and self.state_file.exists():
            self._load()
        if project_id not in self.projects:
            self.projects[project_id] = self._project(project_id, project_name)
            self._save()

    # ---- persistence -------------------------------------------------------------
    def _project(self, pid: str, name: str) -> dict:
        return {
            "id": pid,
            "name": name,
            "created_at": now(),
            "updated_at": now(),
            "backend_transfer_enabled": False,
            "customdata": {},
            "href": f"/projects/{pid}",
        }

    def _load(self) -> None:
        data = json.loads(self.state_file.read_text())
        self.projects = data.get("projects", {})
        self.devices = data.get("devices", {})
        self.ssh_keys = data.get("ssh_keys", {})
        for device in self.devices.values():
            for ip in device["ip_addresses"]:
                pool = self.public if ip["public"] else self.private
                pool.used.add(ip["address"])
        for pending in data.get("releasing", []):
            (self.public if pending["public"] else self.private).used.add(pending["address"])
        for did, device in self.devices.items():
            if device["state"] in ("queued", "provisioning"):
                self._enqueue(did, "provision", dict(device))

    def _save(self) -> None:
        if not self.state_file:
            return
        with self.lock:
            releasing = [
                {"address": a, "public": True} for a in self.public.used - self._addresses(public=True)
            ] + [{"address": a, "public": False} for a in self.private.used - self._addresses(public=False)]
            text = json.dumps(
                {
                    "projects": self.projects,
                    "devices": self.devices,
                    "ssh_keys": self.ssh_keys,
                    "releasing": releasing,
                },
                indent=1,
                sort_keys=True,
            )
            tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
            tmp.write_text(text)
            os.replace(tmp, self.state_file)

    def _addresses(self, public: bool) -> set[str]:
        return {
            ip["address"] for d in self.devices.values() for ip in d["ip_addresses"] if ip["public"] == public
        }

    # ---- lookups -----------------------------------------------------------------
    def project(self, pid: str) -> dict:
        with self.lock:
            if pid not in self.projects:
                raise ApiError(404, "Not found")
            return self.projects[pid]

    def device(self, did: str) -> dict:
        with self.lock:
            if did not in self.devices:
                raise ApiError(404, "Not found")
            return self.devices[did]

    def project_devices(self, pid: str) -> list[dict]:
        self.project(pid)
        with self.lock:
            return [d for d in self.devices.values() if d["project"]["href"] == f"/projects/{pid}"]

    def keys_of(self, owner_href: str | None) -> list[dict]:
        with self.lock:
            return [
                k for k in self.ssh_keys.values() if owner_href is None or k["owner"]["href"] == owner_href
            ]

    # ---- SSH keys ----------------------------------------------------------------
    def add_ssh_key(self, body: dict, owner_href: str) -> dict:
        key = (body.get("key") or "").strip()
        label = body.get("label") or ""
        if not key:
            raise ApiError(422, "key can't be blank")
        kid = str(uuid.uuid4())
        record = {
            "id": kid,
            "label": label,
            "key": key,
            "fingerprint": fingerprint(key),
            "created_at": now(),
            "updated_at": now(),
            "owner": {"href": owner_href},
            "href": f"/ssh-keys/{kid}",
        }
        with self.lock:
            self.ssh_keys[kid] = record
            self._save()
        return record

    def delete_ssh_key(self, kid: str) -> None:
        with self.lock:
            if self.ssh_keys.pop(kid, None) is None:
                raise ApiError(404, "Not found")
            self._save()

    # ---- devices -----------------------------------------------------------------
    def create_device(self, pid: str, body: dict) -> dict:
        project = self.project(pid)
        errors = []
        hostname = body.get("hostname")
        if not hostname:
            errors.append("hostname can't be blank")
        plan = catalog.plan(body.get("plan") or "")
        if plan is None:
            errors.append(f"plan {body.get('plan')!r} is not a valid plan")
        os_ = catalog.operating_system(body.get("operating_system") or "")
        if os_ is None:
            errors.append(f"operating_system {body.get('operating_system')!r} is not valid")
        facility, metro = self._location(body, errors)
        billing = body.get("billing_cycle", "hourly")
        if billing not in BILLING_CYCLES:
            errors.append(f"billing_cycle must be one of {', '.join(BILLING_CYCLES)}")
        if (
            os_
            and os_["slug"] == "custom_ipxe"
            and not body.get("ipxe_script_url")
            and not (body.get("always_pxe"))
        ):
            errors.append("ipxe_script_url is required for custom_ipxe")
        if body.get("spot_instance"):
            errors.append("spot market instances are no longer available")
        termination = body.get("termination_time")
        if termination:
            try:
                if _parse_time(termination) <= dt.datetime.now(dt.UTC):
                    errors.append("termination_time must be in the future")
            except ValueError:
                errors.append("termination_time is not an ISO 8601 time")
        want_public, want_private = self._address_request(body.get("ip_addresses"), errors)
        if errors:
            raise ApiError(422, *errors)

        did = str(uuid.uuid4())
        project_keys = list(body.get("project_ssh_keys") or [])
        users = list(body.get("user_ssh_keys") or [])
        with self.lock:
            if project_keys or users:
                unknown = [k for k in project_keys if k not in self.ssh_keys]
                if unknown:
                    raise ApiError(422, f"unknown ssh key ids: {', '.join(unknown)}")
                strangers = [u for u in users if u != USER_ID]
                if strangers:
                    raise ApiError(422, f"unknown user ids: {', '.join(strangers)}")
                key_ids = project_keys + [
                    k["id"] for k in self.ssh_keys.values() if users and k["owner"]["href"] == "/user"
                ]
            else:
                key_ids = [
                    k["id"]
                    for k in self.ssh_keys.values()
                    if k["owner"]["href"] in (project["href"], "/user")
                ]
            ips = []
            try:
                if want_public:
                    ips.append(self._ip(self.public, True, did, facility, metro))
                if want_private:
                    ips.append(self._ip(self.private, False, did, facility, metro))
            except ApiError:
                for ip in ips:
                    (self.public if ip["public"] else self.private).release(ip["address"])
                raise
            device = {
                "id": did,
                "short_id": did[:8],
                "hostname": hostname,
                "description": body.get("description"),
                "state": "queued",
                "tags": list(body.get("tags") or []),
                "billing_cycle": billing,
                "user": "root",
                "locked": bool(body.get("locked", False)),
                "created_at": now(),
                "updated_at": now(),
                "ipxe_script_url": body.get("ipxe_script_url"),
                "always_pxe": bool(body.get("always_pxe", False)),
                "userdata": body.get("userdata") or "",
                "customdata": body.get("customdata") or {},
                "operating_system": os_,
                "plan": plan,
                "facility": facility,
                "metro": metro,
                "project": {"href": project["href"]},
                "project_lite": {"href": project["href"]},
                "ssh_keys": [{"href": f"/ssh-keys/{k}"} for k in key_ids],
                "ip_addresses": ips,
                # The API shows the first day's root password on the device (and drops
                # it after 24 hours); clients must not show it on.
                "root_password": base64.b32encode(os.urandom(10)).decode().lower(),
                "spot_instance": False,
                "spot_price_max": None,
                "termination_time": termination,
                "hardware_reservation": (
                    {"href": f"/hardware-reservations/{body['hardware_reservation_id']}"}
                    if body.get("hardware_reservation_id")
                    else None
                ),
                "provisioning_percentage": 0.0,
                "volumes": [],
                "href": f"/devices/{did}",
            }
            force_fail = self.fail_next_devices > 0
            if force_fail:
                self.fail_next_devices -= 1
            self.devices[did] = device
            self._save()
            snapshot = json.loads(json.dumps(device))
        self._enqueue(did, "fail" if force_fail else "provision", snapshot)
        return device

    def _location(self, body: dict, errors: list) -> tuple[dict | None, dict | None]:
        """The device's metro, and the facility in it where it lands (devices still
        show one)."""
        if body.get("facility"):
            errors.append("facility is no longer supported: use metro")
            return None, None
        metro_code = body.get("metro")
        if not metro_code:
            errors.append("metro is required")
            return None, None
        metro = catalog.metro(metro_code)
        if metro is None:
            errors.append(f"metro {metro_code!r} is not a valid metro")
            return None, None
        return catalog.facility(catalog.facilities_in_metro(metro_code)[0]), metro

    @staticmethod
    def _address_request(spec, errors: list) -> tuple[bool, bool]:
        if spec is None:
            return True, True
        public = private = False
        for item in spec:
            if int(item.get("address_family", 4)) != 4:
                continue
            if item.get("public", True):
                public = True
            else:
                private = True
        if not private:
            errors.append("a private IPv4 address is required")
        return public, private

    @staticmethod
    def _ip(pool: AddressPool, public: bool, did: str, facility, metro) -> dict:
        address = pool.allocate()
        net = pool.network
        iid = str(uuid.uuid4())
        return {
            "id": iid,
            "address_family": 4,
            "address": address,
            "netmask": str(net.netmask),
            "cidr": net.prefixlen,
            "network": str(net.network_address),
            "gateway": str(pool.gateway),
            "public": public,
            "management": True,
            "manageable": True,
            "enabled": True,
            "global_ip": False,
            "created_at": now(),
            "facility": {"code": facility["code"]} if facility else None,
            "metro": {"code": metro["code"]} if metro else None,
            "assigned_to": {"href": f"/devices/{did}"},
            "href": f"/ips/{iid}",
        }

    def delete_device(self, did: str) -> None:
        with self.lock:
            device = self.devices.get(did)
            if device is None:
                raise ApiError(404, "Not found")
            if device["state"] in ("queued", "provisioning"):
                raise ApiError(422, "Cannot delete a device while it is provisioning")
            del self.devices[did]
            self._save()
        self._enqueue(did, "destroy", device)

    def set_state(self, did: str, state: str, **extra) -> dict:
        with self.lock:
            device = self.device(did)
            device["state"] = state
            device["updated_at"] = now()
            device.update(extra)
            self._save()
            return device

    # API v1 ``POST /devices/{id}/actions``: what each action needs and where it goes.
    ACTIONS = {
        "power_off": (("active",), "powering_off"),
        "power_on": (("inactive",), "powering_on"),
        "reboot": (("active",), "rebooting"),
    }

    def action(self, did: str, body: dict) -> None:
        kind = (body or {}).get("type")
        if kind not in self.ACTIONS:
            raise ApiError(422, f"type must be one of {', '.join(sorted(self.ACTIONS))}, got {kind!r}")
        with self.lock:
            device = self.device(did)
            allowed, transient = self.ACTIONS[kind]
            if device["state"] not in allowed:
                raise ApiError(422, f"cannot {kind} a device that is {device['state']}")
            snapshot = json.loads(json.dumps(self.set_state(did, transient)))
        self._enqueue(did, kind, snapshot)

    def fail(self, did: str) -> dict:
        return self.set_state(did, "failed")

    # ---- lifecycle ---------------------------------------------------------------
    def _enqueue(self, did: str, op: str, device: dict) -> None:
        with self.lock:
            q = self._workers.get(did)
            if q is None:
                q = self._workers[did] = queue.Queue()
                threading.Thread(
                    target=self._work, args=(did, q), name=f"device-{did[:8]}", daemon=True
                ).start()
            q.put((op, device))

    def _work(self, did: str, q: queue.Queue) -> None:
        while not self.stopping.is_set():
            try:
                op, device = q.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                getattr(self, f"_do_{op}")(did, device)
            except Exception:  # a worker must survive a broken backend
                log.exception("device %s: %s failed", did, op)
            if op == "destroy":
                with self.lock:
                    self._workers.pop(did, None)
                return

    def _still(self, did: str, state: str) -> bool:
        with self.lock:
            return did in self.devices and self.devices[did]["state"] == state

    def _do_provision(self, did: str, device: dict) -> None:
        if device["state"] == "queued":
            self.stopping.wait(self.queued_delay)
            if not self._still(did, "queued"):
                return
            device = json.loads(json.dumps(self.set_state(did, "provisioning")))
        started = time.monotonic()
        payload = dict(device, ssh_keys=self._public_keys(device))
        try:
            self.backend.provision(payload)
        except BackendError as exc:
            log.warning("device %s failed to provision: %s", did, exc)
            if self._still(did, "provisioning"):
                self.set_state(did, "failed")
            return
        except Exception:
            log.exception("device %s: backend crashed while provisioning", did)
            if self._still(did, "provisioning"):
                self.set_state(did, "failed")
            return
        self.stopping.wait(max(0.0, self.provision_delay - (time.monotonic() - started)))
        if self._still(did, "provisioning"):
            self.set_state(did, "active", provisioning_percentage=100.0)

    def _do_fail(self, did: str, device: dict) -> None:
        self.stopping.wait(self.queued_delay)
        if self._still(did, "queued"):
            self.set_state(did, "provisioning")
            self.stopping.wait(self.provision_delay)
        if self._still(did, "provisioning"):
            self.set_state(did, "failed")

    def _do_power_off(self, did: str, device: dict) -> None:
        self.backend.power_off(device)
        if self._still(did, "powering_off"):
            self.set_state(did, "inactive")

    def _do_power_on(self, did: str, device: dict) -> None:
        self._boot(did, device, "powering_on")

    def _do_reboot(self, did: str, device: dict) -> None:
        self.backend.power_off(device)
        self._boot(did, device, "rebooting")

    def _boot(self, did: str, device: dict, transient: str) -> None:
        try:
            self.backend.power_on(dict(device, ssh_keys=self._public_keys(device)))
        except Exception as exc:  # a worker must survive a broken backend
            log.warning("device %s did not come back: %s", did, exc)
            if self._still(did, transient):
                self.set_state(did, "failed")
            return
        if self._still(did, transient):
            self.set_state(did, "active")

    def _do_destroy(self, did: str, device: dict) -> None:
        try:
            self.backend.destroy(device)
        finally:
            with self.lock:
                for ip in device["ip_addresses"]:
                    (self.public if ip["public"] else self.private).release(ip["address"])
                self._save()

    def _public_keys(self, device: dict) -> list[str]:
        with self.lock:
            ids = [ref["href"].rsplit("/", 1)[-1] for ref in device.get("ssh_keys", [])]
            return [self.ssh_keys[k]["key"] for k in ids if k in self.ssh_keys]

    def stop(self) -> None:
        self.stopping.set()
