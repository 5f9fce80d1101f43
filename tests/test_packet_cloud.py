"""The real ``salt-cloud`` CLI with Vent's Packet driver, profiles and map, against the
API emulator on loopback. Devices here are API records only (NullBackend), so the
profiles run with ``deploy: false``; the SSH deploy is exercised by the lab tests."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import requests
import yaml
from conftest import REPO, load_salt_module

from ventlab import saltconfig
from ventlab.emulator import DEFAULT_PROJECT_ID, Emulator, State

SALT_CLOUD = Path(sys.executable).parent / "salt-cloud"
TOKEN = "vent-test-token-5f1d9c0e7a"  # noqa: S105 - a test secret the emulator accepts
WRONG_TOKEN = "vent-wrong-token-93b1e4"  # noqa: S105 - a token the emulator refuses


@pytest.fixture(scope="module")
def emulator():
    emu = Emulator(State([TOKEN], queued_delay=0.1, provision_delay=0.2)).start()
    yield emu
    emu.stop()


class Cloud:
    """A salt-cloud config dir laid out like etc/salt (master + master.d paths from
    ventlab.saltconfig, the repo's profiles, map and deploy scripts) for one emulator."""

    def __init__(self, base: Path, emu: Emulator, profiles: dict | None = None, **provider) -> None:
        self.emu = emu
        self.dir = base / "etc"
        root = base / "root"
        (self.dir / "master.d").mkdir(parents=True)
        (self.dir / "cloud.providers.d").mkdir()
        (self.dir / "master").write_text("")
        (self.dir / "master.d" / "00-paths.conf").write_text(
            yaml.safe_dump(saltconfig.master_paths(REPO, root_dir=root))
        )
        self.log_file = base / "cloud.log"
        (self.dir / "cloud").write_text(
            yaml.safe_dump(
                {
                    "log_file": str(self.log_file),
                    "log_level_logfile": "debug",
                    # NullBackend devices have no SSH; tests assert what would be deployed.
                    "deploy": False,
                    "poll_interval": 0.1,
                }
            )
        )
        # The repo's profiles, plus the test's own (which may extend them).
        (self.dir / "cloud.profiles.d").mkdir()
        for conf in (REPO / "cloud.profiles.d").glob("*.conf"):
            (self.dir / "cloud.profiles.d" / conf.name).symlink_to(conf)
        if profiles:
            (self.dir / "cloud.profiles.d" / "test.conf").write_text(yaml.safe_dump(profiles))
        (self.dir / "cloud.deploy.d").symlink_to(REPO / "etc" / "salt" / "cloud.deploy.d")
        common = {
            "driver": "packet",
            "project_id": DEFAULT_PROJECT_ID,
            "api_url": emu.url,
            "api_timeout": 1,
            "api_backoff": 0.05,
            "api_backoff_max": 0.5,
            "minion": {"master": "127.0.0.1"},
        }
        # One provider per config dir: `--list-sizes packet` would query every provider
        # whose driver is packet.
        providers = {"packet": {**common, "token": TOKEN, **provider}}
        providers["packet"] = {k: v for k, v in providers["packet"].items() if v is not None}
        (self.dir / "cloud.providers.d" / "packet.conf").write_text(yaml.safe_dump(providers))
        # Salt prepends root_dir to absolute log paths.
        self.log_path = root / str(self.log_file).lstrip("/")

    def run(self, *args, env=None, check=True):
        environ = {k: v for k, v in os.environ.items() if "AUTH_TOKEN" not in k}
        environ.update(env or {})
        proc = subprocess.run(
            [str(SALT_CLOUD), "-c", str(self.dir), "--out", "json", "--no-color", *args],
            capture_output=True,
            text=True,
            env=environ,
            timeout=180,
        )
        if check:
            assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    def json(self, *args, **kw):
        proc = self.run(*args, **kw)
        start = proc.stdout.index("{")
        return json.loads(proc.stdout[start:])

    # ---- emulator admin --------------------------------------------------------------
    def admin(self, method, path, body=None):
        resp = requests.request(method, self.emu.admin_url + path, json=body, timeout=5)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def calls(self, method=None, path=None):
        return [
            c
            for c in self.admin("GET", "/calls")["calls"]
            if (method is None or c["method"] == method) and (path is None or c["path"] == path)
        ]

    def devices(self, hostname):
        return [d for d in self.emu.state.devices.values() if d["hostname"] == hostname]


@pytest.fixture
def cloud(tmp_path, emulator):
    c = Cloud(tmp_path, emulator)
    c.admin("DELETE", "/calls")
    c.admin("DELETE", "/faults")
    yield c
    c.admin("DELETE", "/faults")


def test_lists_locations_sizes_images_from_the_api(cloud):
    locations = cloud.json("--list-locations", "packet")["packet"]["packet"]
    assert locations["am"]["type"] == "metro"
    assert {loc["type"] for loc in locations.values()} == {"metro"}
    sizes = cloud.json("--list-sizes", "packet")["packet"]["packet"]
    assert "c2.medium.x86" in sizes
    images = cloud.json("--list-images", "packet")["packet"]["packet"]
    assert images["debian_12"]["distro"] == "debian"
    paths = [c["path"] for c in cloud.calls("GET")]
    assert paths == ["/locations/metros", "/plans", "/operating-systems"]


def test_the_profiles_load_with_only_the_packet_provider_and_log_no_error(cloud):
    """The saltify profiles' provider is not configured here: salt-cloud drops them, and
    it must not log an error for them on every command (it did for `extends`)."""
    proc = cloud.run("--list-profiles", "packet")
    profiles = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert set(profiles) == {"vent-controller", "vent-worker"}
    assert "ERROR" not in proc.stderr, proc.stderr


def test_token_from_environment(tmp_path, emulator):
    cloud = Cloud(tmp_path, emulator, token=None)
    sizes = cloud.json("--list-sizes", "packet", env={"METAL_AUTH_TOKEN": TOKEN})
    assert "c2.medium.x86" in sizes["packet"]["packet"]
    proc = cloud.run("--list-sizes", "packet", check=False)
    assert proc.returncode == 1
    assert "METAL_AUTH_TOKEN" in proc.stderr


def test_profile_creates_one_device_with_role_and_address_grains(cloud):
    out = cloud.json("-p", "vent-controller", "controller-p0")["controller-p0"]
    [post] = cloud.calls("POST", f"/projects/{DEFAULT_PROJECT_ID}/devices")
    body = post["body"]
    assert body["hostname"] == "controller-p0"
    assert body["plan"] == "c2.medium.x86"
    assert body["metro"] == "am"
    assert body["operating_system"] == "debian_12"
    # The API as it last was: no facility (refused since 2023), no spot bid (closed 2025).
    assert not {"facility", "spot_instance", "spot_price_max"} & set(body)
    assert body["tags"] == ["vent", "controller", "etcd"]

    [device] = cloud.devices("controller-p0")
    assert device["state"] == "active"
    assert out["id"] == device["id"]
    assert out["grains"]["roles"] == ["controller", "etcd"]
    vent = out["grains"]["vent"]
    assert vent["public_ip"].startswith("198.18.0.")
    assert vent["private_ip"].startswith("100.72.0.")
    assert vent["device_id"] == device["id"]
    assert (vent["metro"], vent["facility"], vent["plan"]) == ("am", "ams1", "c2.medium.x86")

    cloud.admin("DELETE", "/calls")
    again = cloud.json("-p", "vent-controller", "controller-p0")["controller-p0"]
    assert "already exists" in again["Error"]
    assert cloud.calls("POST") == []
    assert len(cloud.devices("controller-p0")) == 1


def test_create_answered_with_500_after_it_happened_makes_no_twin(cloud):
    devices = f"/projects/{DEFAULT_PROJECT_ID}/devices"
    fault = {"status": 500, "count": 1, "method": "POST", "path": "/devices$", "after": True}
    cloud.admin("POST", "/faults", fault)
    out = cloud.json("-p", "vent-worker", "twin-worker-0")["twin-worker-0"]
    [device] = cloud.devices("twin-worker-0")
    assert out["id"] == device["id"]
    assert [c["status"] for c in cloud.calls("POST", devices)] == [500]


def test_map_creates_controller_and_workers_in_parallel(cloud, tmp_path):
    # The shipped map, with hostnames of its own so other tests' devices do not count.
    shipped = yaml.safe_load((REPO / "cloud.maps.d" / "vent.map").read_text())
    assert shipped == {
        "vent-controller": ["controller-0"],
        "vent-worker": ["worker-0", "worker-1"],
    }
    names = {"controller-0": "m-controller-0", "worker-0": "m-worker-0", "worker-1": "m-worker-1"}
    map_file = tmp_path / "vent.map"
    map_file.write_text(yaml.safe_dump({p: [names[n] for n in hosts] for p, hosts in shipped.items()}))
    started = time.monotonic()
    out = cloud.json("-m", str(map_file), "-P", "-y")
    elapsed = time.monotonic() - started
    posts = cloud.calls("POST", f"/projects/{DEFAULT_PROJECT_ID}/devices")
    assert sorted(p["body"]["hostname"] for p in posts) == sorted(names.values())
    publics = set()
    for name in names.values():
        [device] = cloud.devices(name)
        assert device["state"] == "active"
        publics.add(out[name]["grains"]["vent"]["public_ip"])
    assert len(publics) == 3
    assert out["m-worker-1"]["grains"]["roles"] == ["worker"]
    assert elapsed < 60


def test_429_and_500_are_retried(cloud):
    cloud.admin("POST", "/faults", {"status": 429, "count": 2, "path": "^/plans$", "retry_after": 0})
    cloud.admin("POST", "/faults", {"status": 500, "count": 1, "path": "^/plans$"})
    sizes = cloud.json("--list-sizes", "packet")["packet"]["packet"]
    assert "c3.small.x86" in sizes
    assert [c["status"] for c in cloud.calls("GET", "/plans")] == [429, 429, 500, 200]


def test_retry_after_is_waited_in_full_even_beyond_api_backoff_max(cloud):
    # The test provider caps its own backoff at 0.5s; the API asks for 1.5s.
    cloud.admin("POST", "/faults", {"status": 429, "count": 1, "path": "^/plans$", "retry_after": 1.5})
    cloud.json("--list-sizes", "packet")
    first, second = cloud.calls("GET", "/plans")
    assert (first["status"], second["status"]) == (429, 200)
    assert second["time"] - first["time"] >= 1.5


def test_timeouts_are_retried(cloud):
    cloud.admin("POST", "/faults", {"status": "timeout", "count": 1, "path": "^/plans$", "delay": 2})
    sizes = cloud.json("--list-sizes", "packet")["packet"]["packet"]
    assert "c3.small.x86" in sizes
    assert [c["status"] for c in cloud.calls("GET", "/plans")] == ["timeout", 200]


def test_bad_token_is_a_clear_error_without_the_token(tmp_path, emulator):
    cloud = Cloud(tmp_path, emulator, token="not-the-token", api_retries=1)  # noqa: S106
    cloud.admin("DELETE", "/calls")
    proc = cloud.run("--list-sizes", "packet", check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert f"Packet API GET {emulator.url}/plans answered HTTP 401" in proc.stderr
    assert "Invalid authentication token" in text
    assert "not-the-token" not in text
    assert [c["status"] for c in cloud.calls("GET", "/plans")] == [401]


def test_token_never_in_output_or_debug_log(cloud):
    proc = cloud.run("-l", "debug", "-p", "vent-worker", "log-worker-0")
    assert "log-worker-0" in proc.stdout
    assert cloud.log_path.is_file()
    log = cloud.log_path.read_text()
    assert "/projects/" in log  # the debug log does record the API traffic
    for text in (proc.stdout, proc.stderr, log):
        assert TOKEN not in text


def test_show_instance_and_destroy(cloud):
    cloud.json("-p", "vent-worker", "life-worker-0")
    [device] = cloud.devices("life-worker-0")

    shown = cloud.run("-a", "show_instance", "life-worker-0", "-y")
    node = json.loads(shown.stdout[shown.stdout.index("{"):])["packet"]["packet"]["life-worker-0"]
    assert node["id"] == device["id"]
    assert node["state"] == "active"
    assert node["extra"]["ip_addresses"][0]["address"] == node["public_ips"][0]
    full = cloud.run("-F")
    # The API's device carries its first root password; neither listing shows it on.
    assert device["root_password"]
    for proc in (shown, full):
        assert device["root_password"] not in proc.stdout + proc.stderr
        assert "root_password" not in proc.stdout

    cloud.admin("DELETE", "/calls")
    gone = cloud.json("-d", "life-worker-0", "-y")
    assert gone["packet"]["packet"]["life-worker-0"]["state"] == "destroyed"
    assert [c["path"] for c in cloud.calls("DELETE")] == [f"/devices/{device['id']}"]
    assert cloud.devices("life-worker-0") == []
    deadline = time.monotonic() + 5
    while ("destroy", device["id"]) not in cloud.emu.state.backend.calls:
        assert time.monotonic() < deadline, "backend never asked to destroy the machine"
        time.sleep(0.05)


def test_stop_start_and_reboot_actions_power_the_device(cloud):
    cloud.json("-p", "vent-worker", "power-worker-0")
    [device] = cloud.devices("power-worker-0")
    path = f"/devices/{device['id']}/actions"

    stopped = cloud.json("-a", "stop", "power-worker-0", "-y")["packet"]["packet"]["power-worker-0"]
    assert stopped == {"id": device["id"], "action": "power_off", "was": "active"}
    assert _eventually(lambda: cloud.devices("power-worker-0")[0]["state"] == "inactive")
    assert ("power_off", device["id"]) in cloud.emu.state.backend.calls
    refused = cloud.run("-a", "stop", "power-worker-0", "-y", check=False)
    assert refused.returncode == 1 and "cannot power_off a device that is inactive" in refused.stderr
    # Still listed, so salt-cloud itself stops at "already exists": nothing replaced.
    again = cloud.run("-p", "vent-worker", "power-worker-0", check=False)
    assert "power-worker-0 already exists" in again.stderr, again.stdout
    assert [d["id"] for d in cloud.devices("power-worker-0")] == [device["id"]]
    assert "power-worker-0" in cloud.json("-Q")["packet"]["packet"]

    cloud.json("-a", "start", "power-worker-0", "-y")
    assert _eventually(lambda: cloud.devices("power-worker-0")[0]["state"] == "active")
    cloud.json("-a", "reboot", "power-worker-0", "-y")
    assert _eventually(lambda: cloud.devices("power-worker-0")[0]["state"] == "active")
    assert [c["body"] for c in cloud.calls("POST", path)] == [
        {"type": "power_off"}, {"type": "power_off"}, {"type": "power_on"}, {"type": "reboot"}]
    ops = [op for op, did in cloud.emu.state.backend.calls if did == device["id"]]
    assert ops == ["provision", "power_off", "power_on", "power_off", "power_on"]


def test_failed_device_is_destroyed_and_recreated_on_rerun_with_destroy_on_failure(
        tmp_path, clean_emulator):
    cloud = Cloud(tmp_path, clean_emulator,
                  profiles={"dof": {"extends": "vent-controller", "destroy_on_failure": True}})
    cloud.admin("POST", "/fail-next-devices", {"count": 1})
    proc = cloud.run("-p", "dof", "fail-worker-0", check=False)
    assert proc.returncode == 1
    assert "device fail-worker-0 (" in proc.stderr and "went failed" in proc.stderr
    assert "destroyed it (destroy_on_failure)" in proc.stderr
    assert len(cloud.calls("DELETE")) == 1
    assert cloud.devices("fail-worker-0") == []

    out = cloud.json("-p", "dof", "fail-worker-0")["fail-worker-0"]
    [device] = cloud.devices("fail-worker-0")
    assert device["state"] == "active" and out["id"] == device["id"]


def test_destroy_of_a_device_still_provisioning_is_refused_clearly(tmp_path):
    # A device that takes its time: the API refuses to delete it until provisioning ends.
    slow = Emulator(State([TOKEN], queued_delay=30, provision_delay=30)).start()
    try:
        cloud = Cloud(tmp_path, slow)
        device = slow.state.create_device(
            DEFAULT_PROJECT_ID,
            {"hostname": "busy-worker-0", "plan": "t1.small.x86", "metro": "am",
             "operating_system": "debian_12"})
        proc = cloud.run("-d", "busy-worker-0", "-y", check=False)
        assert proc.returncode == 1
        assert (f"busy-worker-0 ({device['id']}) is queued: the API deletes a device only once its "
                "provisioning has ended") in proc.stderr
        assert cloud.calls("DELETE") == []
        assert [d["id"] for d in cloud.devices("busy-worker-0")] == [device["id"]]
    finally:
        slow.stop()


def test_on_demand_failure_is_reported_and_kept(cloud):
    cloud.admin("POST", "/fail-next-devices", {"count": 1})
    proc = cloud.run("-p", "vent-worker", "keep-worker-0", check=False)
    assert proc.returncode == 1
    [device] = cloud.devices("keep-worker-0")
    assert f"device keep-worker-0 ({device['id']}) was created but it went failed" in proc.stderr
    assert "billed until removed: salt-cloud -d keep-worker-0" in proc.stderr
    assert device["state"] == "failed"
    assert cloud.calls("DELETE") == []


def _eventually(fn, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# ---- API errors reach the user: exit 1, the URL and the status, never the token -----
def _refused_url() -> str:
    """An API URL on a loopback port nothing listens on: connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/metal/v1"


def _api_failure(kind: str, emu: Emulator) -> tuple[dict, list[dict], str, list[str]]:
    """(provider settings, emulator faults, the API URL, what the error must say)."""
    host = emu.url.split("/")[2]
    if kind == "401":
        return {"token": WRONG_TOKEN}, [], emu.url, ["HTTP 401 Unauthorized", "Invalid authentication token"]
    if kind == "5xx":
        fault = {"status": 503, "count": 10000}
        return {}, [fault], emu.url, ["HTTP 503 Service Unavailable", "gave up after 2 attempts"]
    if kind == "refused":
        url = _refused_url()
        return {"api_url": url}, [], url, [f"cannot connect to {url.split('/')[2]}: Connection refused"]
    fault = {"status": "timeout", "count": 10000, "delay": 3}
    return {}, [fault], emu.url, [f"no answer from {host} within 1.0s", "gave up after 2 attempts"]


API_ACTIONS = {
    "-p": ["-p", "vent-worker", "err-new-0"],
    "-m": ["-m", "{map}", "-y"],
    "-m -P": ["-m", "{map}", "-P", "-y"],
    "-d": ["-d", "err-kept-0", "-y"],
    "-Q": ["-Q"],
    "--list-sizes": ["--list-sizes", "packet"],
    "--list-images": ["--list-images", "packet"],
    "--list-locations": ["--list-locations", "packet"],
    "-f list_nodes": ["-f", "list_nodes", "packet"],
}


@pytest.fixture
def clean_emulator(emulator):
    """Faults of a test never reach the next one."""
    requests.delete(emulator.admin_url + "/faults", timeout=5)
    requests.delete(emulator.admin_url + "/calls", timeout=5)
    yield emulator
    requests.delete(emulator.admin_url + "/faults", timeout=5)


@pytest.mark.parametrize("action", sorted(API_ACTIONS))
@pytest.mark.parametrize("kind", ["401", "5xx", "refused", "slow"])
def test_api_failure_exits_1_naming_url_and_status(tmp_path, clean_emulator, kind, action):
    emu = clean_emulator
    kept = emu.state.create_device(
        DEFAULT_PROJECT_ID,
        {"hostname": "err-kept-0", "plan": "t1.small.x86", "metro": "am", "operating_system": "debian_12"},
    )
    # Active before the run, as a device the user lists or destroys would be: a failing
    # run can end within the emulator's 0.3 s of provisioning, and a device still
    # provisioning cannot be deleted afterwards.
    assert _eventually(lambda: emu.state.device(kept["id"])["state"] == "active")
    settings, faults, url, expected = _api_failure(kind, emu)
    cloud = Cloud(tmp_path, emu, api_retries=1, **settings)
    map_file = tmp_path / "err.map"
    map_file.write_text(yaml.safe_dump({"vent-worker": ["err-new-0", "err-new-1"]}))
    for fault in faults:
        cloud.admin("POST", "/faults", fault)
    try:
        proc = cloud.run(*[a.format(map=map_file) for a in API_ACTIONS[action]], check=False)
    finally:
        cloud.admin("DELETE", "/faults")
        emu.state.delete_device(kept["id"])

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Error: Packet API GET {url}/" in proc.stderr
    for text in expected:
        assert text in proc.stderr
    log = cloud.log_path.read_text() if cloud.log_path.exists() else ""
    for secret in (TOKEN, WRONG_TOKEN):
        assert secret not in proc.stdout + proc.stderr + log
    assert cloud.devices("err-new-0") == [] and cloud.devices("err-new-1") == []
    # One retry cycle per action: the first request that fails ends it.
    calls = cloud.calls()
    assert len({c["path"] for c in calls}) <= 1
    assert len(calls) == {"401": 1, "5xx": 2, "refused": 0, "slow": 2}[kind]


def test_query_lists_devices_with_one_listing(cloud):
    cloud.json("-p", "vent-worker", "query-worker-0")
    [device] = cloud.devices("query-worker-0")
    cloud.admin("DELETE", "/calls")
    listed = cloud.json("-Q")["packet"]["packet"]
    assert listed["query-worker-0"]["id"] == device["id"]
    assert listed["query-worker-0"]["private_ips"] == [device["ip_addresses"][1]["address"]]
    # salt-cloud's worker reads the listing made in its own process, never asks again.
    assert [c["path"] for c in cloud.calls()] == [f"/projects/{DEFAULT_PROJECT_ID}/devices"]


def test_forbidden_destroy_exits_1_and_keeps_the_device(cloud):
    cloud.json("-p", "vent-worker", "forbid-worker-0")
    [device] = cloud.devices("forbid-worker-0")
    cloud.admin("POST", "/faults", {"status": 403, "count": 100, "method": "DELETE"})
    proc = cloud.run("-d", "forbid-worker-0", "-y", check=False)
    assert proc.returncode == 1
    assert f"forbid-worker-0 ({device['id']}) was not destroyed, it still exists" in proc.stderr
    assert f"Packet API DELETE {cloud.emu.url}/devices/{device['id']} answered HTTP 403" in proc.stderr
    assert cloud.devices("forbid-worker-0") == [device]


def test_create_post_failing_for_good_exits_1_and_leaves_nothing(cloud, tmp_path):
    cloud.admin("POST", "/faults", {"status": 503, "count": 100, "method": "POST", "path": "/devices$"})
    proc = cloud.run("-p", "vent-worker", "post-worker-0", check=False)
    assert proc.returncode == 1
    devices = f"{cloud.emu.url}/projects/{DEFAULT_PROJECT_ID}/devices"
    assert f"post-worker-0 was not created: Packet API POST {devices}: HTTP 503" in proc.stderr
    assert "no device named post-worker-0 is in project" in proc.stderr
    assert cloud.devices("post-worker-0") == []


# ---- the retry budget ----------------------------------------------------------------
class FakeClock:
    """time for the driver: sleeping moves the clock, nothing waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _driver(emu: Emulator, clock: FakeClock, **provider):
    """The driver module outside salt-cloud, configured like a provider file."""
    driver = load_salt_module("salt/_clouds/packet.py", "packet_under_test")
    conf = {"driver": "packet", "project_id": DEFAULT_PROJECT_ID, "api_url": emu.url, "token": TOKEN}
    driver.__opts__ = {"providers": {"packet": {"packet": {**conf, **provider}}}}
    driver.__active_provider_name__ = "packet:packet"
    driver.time = types.SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep)
    return driver


def test_retries_end_at_api_retries_with_no_wait_after_the_last(cloud, caplog):
    clock = FakeClock()
    driver = _driver(cloud.emu, clock, api_retries=3, api_backoff=1, api_backoff_max=30)
    cloud.admin("POST", "/faults", {"status": 500, "count": 100, "path": "^/plans$"})
    with caplog.at_level(logging.WARNING), pytest.raises(driver.PacketApiError) as failed:
        driver.avail_sizes()
    assert [c["status"] for c in cloud.calls("GET", "/plans")] == [500] * 4
    assert clock.sleeps == [1, 2, 4]
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert [m.split("; ")[-1] for m in retries] == [
        "retry 1/3 in 1.0s",
        "retry 2/3 in 2.0s",
        "retry 3/3 in 4.0s",
    ]
    assert f"Packet API GET {cloud.emu.url}/plans: HTTP 500" in str(failed.value)
    assert "gave up after 4 attempts" in str(failed.value)


def test_retry_budget_ends_retrying_before_api_retries(cloud):
    clock = FakeClock()
    driver = _driver(cloud.emu, clock, api_retries=100, api_retry_budget=10, api_backoff=1)
    cloud.admin("POST", "/faults", {"status": 503, "count": 1000, "path": "^/plans$"})
    with pytest.raises(driver.PacketApiError) as failed:
        driver.avail_sizes()
    # Waits 1, 2, 4 fit in 10s with a second left for the attempt; waiting 8 more would not.
    assert clock.sleeps == [1, 2, 4]
    assert len(cloud.calls("GET", "/plans")) == 4
    assert "api_retry_budget 10s" in str(failed.value)


def test_retry_budget_bounds_salt_cloud_attempts(tmp_path, clean_emulator):
    cloud = Cloud(tmp_path, clean_emulator, api_retries=100, api_retry_budget=2.5, api_backoff=0.5)
    cloud.admin("POST", "/faults", {"status": 503, "count": 1000, "path": "^/plans$"})
    proc = cloud.run("--list-sizes", "packet", check=False)
    assert proc.returncode == 1
    assert "api_retry_budget 2.5s" in proc.stderr
    # Every wait is at least 0.5s and the last attempt needs a second of the budget left.
    assert 1 <= len(cloud.calls("GET", "/plans")) <= 4


# ---- checks before the first POST; what a failure after it leaves ---------------------
@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param(
            {"ssh_keyfile": "/nonexistent/key", "deploy": True},
            "ssh_keyfile /nonexistent/key does not exist",
            id="missing ssh_keyfile",
        ),
        pytest.param(
            {"spot_instance": True, "spot_price_max": 0.3},
            "spot_instance is set; Equinix closed the spot market on 2025-06-20",
            id="spot bid",
        ),
        pytest.param(
            {"facility": "ams1"},
            "facility is set; the API stopped accepting facilities in 2023: name the metro",
            id="facility",
        ),
        pytest.param(
            {"location": "ams1"},
            "location 'ams1' is a facility code; the API stopped accepting facilities",
            id="facility as location",
        ),
        pytest.param(
            {"tags": "worker"},
            "tags must be a list of strings, not 'worker'",
            id="tags a string",
        ),
        pytest.param(
            {"project_ssh_keys": ["k1", 7]},
            "project_ssh_keys must be a list of strings, not ['k1', 7]",
            id="ssh key id not a string",
        ),
        pytest.param(
            {"public_ipv4": "no"},
            "public_ipv4 must be true or false, not 'no'",
            id="flag a string",
        ),
        pytest.param(
            {"wait_for_active": "30m"},
            "wait_for_active must be a number >= 0, not '30m'",
            id="wait not a number",
        ),
        pytest.param(
            {"poll_interval": -1},
            "poll_interval must be a number >= 0, not -1",
            id="negative poll interval",
        ),
        pytest.param(
            {"size": "c9.huge.x86"},
            "plan 'c9.huge.x86' is not one the API offers",
            id="unknown plan",
        ),
        pytest.param(
            {"image": "debian_99"},
            "operating system 'debian_99' is not one the API offers",
            id="unknown OS",
        ),
        pytest.param(
            {"location": "zz"},
            "metro 'zz' is not one the API offers",
            id="unknown metro",
        ),
        pytest.param(
            {"userdata_file": "/nonexistent/user-data"},
            "userdata_file /nonexistent/user-data does not exist",
            id="missing userdata_file",
        ),
        pytest.param(
            {"termination_time": "2001-01-01T00:00:00Z"},
            "termination_time 2001-01-01T00:00:00Z is in the past",
            id="termination in the past",
        ),
        pytest.param(
            {"billing_cycle": "weekly"},
            "billing_cycle 'weekly' is not one of hourly, daily, monthly, yearly",
            id="unknown billing cycle",
        ),
    ],
)
def test_profile_problem_stops_create_before_any_post(tmp_path, clean_emulator, settings, expected):
    cloud = Cloud(tmp_path, clean_emulator, profiles={"bad": {"extends": "vent-controller", **settings}})
    proc = cloud.run("-p", "bad", "bad-worker-0", check=False)
    assert proc.returncode == 1
    assert "bad-worker-0 was not created (no device requested); fix profile bad" in proc.stderr
    assert expected in proc.stderr
    assert cloud.calls("POST") == []
    assert cloud.devices("bad-worker-0") == []


def test_invalid_name_stops_create_before_any_request(cloud):
    proc = cloud.run("-p", "vent-worker", "Worker_0", check=False)
    assert proc.returncode == 1
    assert "name 'Worker_0' is not a valid hostname" in proc.stderr
    assert [c["method"] for c in cloud.calls()] == ["GET"]  # salt-cloud's listing only
    assert cloud.devices("Worker_0") == []


def test_map_entry_problem_stops_create_before_any_post(cloud, tmp_path):
    map_file = tmp_path / "bad.map"
    map_file.write_text(yaml.safe_dump({"vent-worker": [{"map-bad-0": {"size": "c9.huge.x86"}}]}))
    proc = cloud.run("-m", str(map_file), "-y", check=False)
    assert proc.returncode == 1
    assert "map-bad-0 was not created (no device requested); fix profile vent-worker or its map entry" in (
        proc.stderr
    )
    assert "plan 'c9.huge.x86'" in proc.stderr
    assert cloud.calls("POST") == []


def test_failure_after_create_names_the_device_left_and_how_to_remove_it(tmp_path, clean_emulator):
    slow = {"slow": {"extends": "vent-controller", "wait_for_active": 0}}
    cloud = Cloud(tmp_path, clean_emulator, profiles=slow)
    proc = cloud.run("-p", "slow", "left-worker-0", check=False)
    assert proc.returncode == 1
    [device] = cloud.devices("left-worker-0")
    assert f"device left-worker-0 ({device['id']}) was created but it was not active after 0s" in proc.stderr
    assert f"still in project {DEFAULT_PROJECT_ID}, billed until removed: salt-cloud -d left-worker-0" in (
        proc.stderr
    )
    assert cloud.calls("DELETE") == []


def test_destroy_on_failure_leaves_a_device_still_provisioning_and_says_why(tmp_path, clean_emulator):
    slow = {"slow": {"extends": "vent-controller", "wait_for_active": 0, "destroy_on_failure": True}}
    cloud = Cloud(tmp_path, clean_emulator, profiles=slow)
    proc = cloud.run("-p", "slow", "gone-worker-0", check=False)
    assert proc.returncode == 1
    [device] = cloud.devices("gone-worker-0")
    assert f"device gone-worker-0 ({device['id']}) was created but it was not active after 0s" in proc.stderr
    assert "the API deletes a device only once its provisioning has ended" in proc.stderr
    assert "billed until removed: salt-cloud -d gone-worker-0" in proc.stderr
    assert cloud.calls("DELETE") == []


def test_a_retried_delete_that_had_happened_is_a_success(cloud):
    cloud.json("-p", "vent-worker", "twice-worker-0")
    [device] = cloud.devices("twice-worker-0")
    # The first DELETE is carried out but answered 503; the retry then finds it gone.
    cloud.admin("POST", "/faults", {"status": 503, "count": 1, "method": "DELETE", "after": True})
    gone = cloud.json("-d", "twice-worker-0", "-y")
    assert gone["packet"]["packet"]["twice-worker-0"]["state"] == "destroyed"
    assert [c["status"] for c in cloud.calls("DELETE")] == [503, 404]
    assert cloud.devices("twice-worker-0") == []
