"""The Packet API emulator over HTTP: auth, device lifecycle, addresses, the API's rules
as it last was (metros, on demand, no delete while provisioning), SSH keys, failure
injection, backends, the state file and the command line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from conftest import REPO

from ventlab.emulator import (
    DEFAULT_PROJECT_ID,
    USER_ID,
    BackendError,
    Emulator,
    NullBackend,
    State,
    load_backend,
)

TOKEN = "emulator-test-token"  # noqa: S105
DEVICE = {
    "hostname": "worker-0",
    "plan": "c2.medium.x86",
    "metro": "am",
    "operating_system": "debian_12",
    "tags": ["worker"],
}


class Api:
    def __init__(self, emu: Emulator, token: str = TOKEN) -> None:
        self.emu = emu
        self.s = requests.Session()
        self.s.headers["X-Auth-Token"] = token

    def __call__(self, method, path, body=None, **params):
        return self.s.request(method, self.emu.url + path, json=body, params=params, timeout=5)

    def admin(self, method, path, body=None):
        return requests.request(method, self.emu.admin_url + path, json=body, timeout=5)

    def wait_state(self, did, state, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            got = self("GET", f"/devices/{did}").json()["state"]
            if got == state:
                return
            assert time.monotonic() < deadline, f"device stuck in {got}, wanted {state}"
            time.sleep(0.05)


def _start(tmp_path=None, backend=None, **kw):
    kw.setdefault("queued_delay", 0.05)
    kw.setdefault("provision_delay", 0.1)
    return Emulator(State([TOKEN], backend=backend, **kw)).start()


@pytest.fixture
def api():
    emu = _start()
    yield Api(emu)
    emu.stop()


def _create(api, **over):
    resp = api("POST", f"/projects/{DEFAULT_PROJECT_ID}/devices", {**DEVICE, **over})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_wrong_token_is_401_with_errors(api):
    resp = Api(api.emu, "wrong")("GET", "/projects")
    assert resp.status_code == 401
    assert resp.json() == {"errors": ["Invalid authentication token"]}


def test_device_goes_active_with_addresses_from_the_pools(api):
    device = _create(api)
    assert device["state"] == "queued"
    ips = {ip["public"]: ip for ip in device["ip_addresses"]}
    assert ips[True]["address"] == "198.18.0.2" and ips[True]["gateway"] == "198.18.0.1"
    assert ips[False]["address"] == "100.72.0.2" and ips[False]["address_family"] == 4
    assert device["metro"]["code"] == "am" and device["facility"]["code"] == "ams1"
    api.wait_state(device["id"], "active")
    assert api.emu.state.backend.calls == [("provision", device["id"])]
    second = _create(api, hostname="worker-1")
    assert [ip["address"] for ip in second["ip_addresses"]] == ["198.18.0.3", "100.72.0.3"]


def test_delete_releases_addresses_after_backend_destroy(api):
    device = _create(api)
    api.wait_state(device["id"], "active")
    assert api("DELETE", f"/devices/{device['id']}").status_code == 204
    assert api("GET", f"/devices/{device['id']}").status_code == 404
    deadline = time.monotonic() + 5
    while ("destroy", device["id"]) not in api.emu.state.backend.calls:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    again = _create(api, hostname="worker-9")
    assert again["ip_addresses"][0]["address"] == "198.18.0.2"


def test_validation_errors_are_422(api):
    devices = f"/projects/{DEFAULT_PROJECT_ID}/devices"
    resp = api("POST", devices, {**DEVICE, "plan": "nope", "spot_instance": True})
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    assert any("plan" in e for e in errors)
    assert "spot market instances are no longer available" in errors
    fac = api("POST", devices, {k: v for k, v in DEVICE.items() if k != "metro"} | {"facility": ["ams1"]})
    assert fac.status_code == 422 and "facility is no longer supported: use metro" in fac.text
    assert api("GET", "/facilities").status_code == 404
    assert api("GET", "/market/spot/prices/metros").status_code == 404
    assert api("GET", "/projects/nope/devices").status_code == 404


def test_no_delete_while_provisioning():
    emu = _start(queued_delay=30, provision_delay=30)
    try:
        api = Api(emu)
        device = _create(api)
        resp = api("DELETE", f"/devices/{device['id']}")
        assert resp.status_code == 422
        assert resp.json()["errors"] == ["Cannot delete a device while it is provisioning"]
        assert api("GET", f"/devices/{device['id']}").json()["state"] == "queued"
    finally:
        emu.stop()


def test_user_ssh_keys_name_users_whose_keys_go_on_the_device(api):
    public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx0WJz1rdUb6uDPQVoxJg0o5bY4l6kqXGJmA9kSY1Yq me@host"
    added = api("POST", "/ssh-keys", {"label": "me", "key": public})
    assert added.status_code == 201, added.text
    mine = added.json()
    device = _create(api, user_ssh_keys=[USER_ID])
    assert device["ssh_keys"] == [{"href": f"/ssh-keys/{mine['id']}"}]
    # A key id where a user id belongs is refused, as the API does.
    resp = api("POST", f"/projects/{DEFAULT_PROJECT_ID}/devices",
               {**DEVICE, "hostname": "worker-1", "user_ssh_keys": [mine["id"]]})
    assert resp.status_code == 422 and "unknown user ids" in resp.text


def test_private_only_device(api):
    device = _create(api, ip_addresses=[{"address_family": 4, "public": False}])
    assert [ip["public"] for ip in device["ip_addresses"]] == [False]


def test_faults_then_recovery_and_call_record(api):
    api.admin("POST", "/faults", {"status": 429, "count": 1, "retry_after": 3, "path": "^/plans$"})
    first = api("GET", "/plans")
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert api("GET", "/plans").status_code == 200
    calls = api.admin("GET", "/calls").json()["calls"]
    assert [(c["path"], c["status"]) for c in calls] == [("/plans", 429), ("/plans", 200)]
    assert TOKEN not in str(calls)


def test_fail_next_device(api):
    api.admin("POST", "/fail-next-devices", {"count": 1})
    bad = _create(api)
    api.wait_state(bad["id"], "failed")
    good = _create(api, hostname="worker-1")
    api.wait_state(good["id"], "active")
    assert api("DELETE", f"/devices/{bad['id']}").status_code == 204


def test_power_actions_follow_the_device_states(api):
    device = _create(api)
    api.wait_state(device["id"], "active")
    act = f"/devices/{device['id']}/actions"
    bad = api("POST", act, {"type": "explode"})
    assert bad.status_code == 422 and "power_off" in bad.json()["errors"][0]
    assert api("POST", act, {"type": "power_on"}).status_code == 422  # already on
    assert api("POST", act, {"type": "power_off"}).status_code == 202
    api.wait_state(device["id"], "inactive")
    assert api("POST", act, {"type": "reboot"}).status_code == 422
    assert api("POST", act, {"type": "power_on"}).status_code == 202
    api.wait_state(device["id"], "active")
    calls = [op for op, did in api.emu.state.backend.calls if did == device["id"]]
    assert calls == ["provision", "power_off", "power_on"]


def _public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    return raw.decode() + " test@lab"


class RecordingFailingBackend(NullBackend):
    """Test double: fails every provision, keeps the payload it was given."""

    def provision(self, device):
        super().provision(device)
        self.payload = device
        raise BackendError("no machine for you")


def test_backend_gets_ssh_keys_and_its_failure_fails_the_device():
    backend = RecordingFailingBackend()
    emu = _start(backend=backend)
    try:
        api = Api(emu)
        key = _public_key()
        resp = api("POST", f"/projects/{DEFAULT_PROJECT_ID}/ssh-keys", {"label": "t", "key": key})
        assert resp.status_code == 201
        device = _create(api)
        api.wait_state(device["id"], "failed")
        assert backend.payload["ssh_keys"] == [key]
        assert backend.payload["ip_addresses"] == device["ip_addresses"]
    finally:
        emu.stop()


def test_state_file_survives_restart(tmp_path):
    path = tmp_path / "state.json"
    emu = _start(state_file=path)
    device = _create(Api(emu))
    Api(emu).wait_state(device["id"], "active")
    emu.stop()
    emu = _start(state_file=path)
    try:
        api = Api(emu)
        assert api("GET", f"/devices/{device['id']}").json()["state"] == "active"
        assert _create(api, hostname="x")["ip_addresses"][0]["address"] == "198.18.0.3"
    finally:
        emu.stop()


def test_load_backend_by_import_path():
    assert isinstance(load_backend("ventlab.emulator.device_backends:NullBackend"), NullBackend)
    with pytest.raises(ValueError):
        load_backend("ventlab.emulator.device_backends")


def test_command_line_prints_url_and_serves(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ventlab.emulator",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
            "--state",
            str(tmp_path / "s.json"),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metal/v1")
        resp = requests.get(url + "/plans", headers={"X-Auth-Token": TOKEN}, timeout=5)
        assert "c2.medium.x86" in [p["slug"] for p in resp.json()["plans"]]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
