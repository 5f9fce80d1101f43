"""
salt-cloud driver for Packet / Equinix Metal (API v1), loaded from Vent's ``cloud_dirs``.

Why plain HTTP (``requests``) and not apache-libcloud's ``EquinixMetalNodeDriver``:
libcloud's ``create_node`` has no ``termination_time``, hardware reservations or iPXE
fields, hides the API's ``errors``
list behind generic exceptions and has no retry policy; the handful of endpoints used
here are simpler to speak directly, with one retry/redaction policy for all of them.

Provider (``cloud.providers.d/packet.conf``)::

    packet:
      driver: packet
      project_id: <uuid>
      token: <API token>            # or $METAL_AUTH_TOKEN / $PACKET_AUTH_TOKEN
      api_url: https://api.equinix.com/metal/v1
      ssh_keyfile: ~/.ssh/vent      # SSH deploy; <ssh_keyfile>.pub is registered
      api_retries: 5                # retries of a failed request (429, 5xx, timeout, refused)
      api_retry_budget: 60          # seconds one request may take, all attempts and waits
      api_timeout: 30               # seconds per attempt (cut to what is left of the budget)
      api_backoff: 1.0              # first wait; doubles per retry, capped by api_backoff_max
      api_backoff_max: 30

Profile keys: ``size`` (plan), ``image`` (operating system), ``location`` (a metro
code such as ``am``; or ``metro``), ``billing_cycle``, ``tags`` (roles among them
become the ``roles`` grain), ``userdata``/``userdata_file``, ``project_ssh_keys``
(project SSH key ids), ``user_ssh_keys`` (ids of users whose SSH keys go on the
device), ``ssh_public_key``, ``termination_time``, ``ipxe_script_url``,
``always_pxe``, ``hardware_reservation_id``, ``public_ipv4`` (default true),
``wait_for_active`` (seconds), ``poll_interval``, ``destroy_on_failure``, and the
``api_*`` keys above.

The API as it last was: devices are placed by metro (the API stopped accepting
facilities in 2023) and on demand (Equinix closed the spot market on 2025-06-20); a
profile that still names a facility or a spot bid is refused before any request.

Errors. An API error names the request's URL and HTTP status with the API's ``errors``
(or, when no answer came, the host and the cause). Under the ``salt-cloud`` command any
failure ends the command with exit status 1 and ``Error: <message>`` on stderr, for
every action (see ``_exits`` for why the driver does this itself). A ``salt-cloud -m``
map stops at the first device that fails; re-running it creates only what is missing.
With ``-P`` the listing still ends the command on an API error, but a device that
fails in salt-cloud's worker pool is reported as its ``Error`` in the output and the
exit status stays 0 (salt-cloud's pool cannot be stopped safely from a worker).

Create checks before its first POST what can go wrong later: the name, the type of
every setting, key files and deploy credentials, billing cycle, termination time, wait
and poll times and the userdata file, then the plan, operating system and metro against
the API's lists. When a step
after the POST fails, the message names the device left behind and how to remove it
(``salt-cloud -d NAME``); with ``destroy_on_failure: true`` the driver removes it (the
API refuses to delete a device that is still provisioning: then the message says so).

Deploy. The minion goes on in one SSH session (``vent_deploy``: keys, config, grains,
the master's extension modules and the deploy script as one archive), about 1 s
against 34 s for salt-cloud's own deploy, which opens a session per file and per
command. A profile that uses a deploy
setting only salt-cloud implements (an SSH gateway, ``file_map``, ``make_master``,
password login, ...) gets salt-cloud's own deploy, and the log says which setting.

The token is sent only in the ``X-Auth-Token`` header; it is never logged, never put in
returned data, and any text that would quote it is redacted. Device fields that hold
secrets (``root_password``, ``userdata``, ``customdata``) are never listed or cached.
"""

import datetime as dt
import functools
import logging
import math
import multiprocessing
import os
import re
import time
from http import HTTPStatus
from urllib.parse import urlsplit

import salt.config as config
import salt.utils.files
from salt.exceptions import SaltCloudConfigError, SaltCloudException, SaltCloudSystemExit

try:
    import requests

    HAS_REQUESTS = True
except ImportError:
    HAS_REQUESTS = False

try:  # saltext-vent: Salt's loader gives an extension's modules no __utils__ (README)
    from saltext.vent import util as _packaged_util
except ImportError:  # this checkout's *_dirs
    _packaged_util = None


def _util(name):
    """``vent_<module>.<function>``: the package's when installed, else the loader's."""
    return _packaged_util(name, __opts__) if _packaged_util else __utils__[name]


log = logging.getLogger(__name__)

__virtualname__ = "packet"

DEFAULT_API_URL = "https://api.equinix.com/metal/v1"
TOKEN_ENV = ("METAL_AUTH_TOKEN", "PACKET_AUTH_TOKEN")
ROLES = ("controller", "worker", "etcd")
RETRY_STATUS = (429, 500, 502, 503, 504)
# States after which waiting longer cannot make a device active.
DEAD_STATES = ("failed", "inactive", "deprovisioning", "deleted")
# The API refuses to delete a device in these ("Cannot delete a device while it is
# provisioning").
PROVISIONING = ("queued", "provisioning")
# Device fields that carry secrets: the root password of the first day, and userdata /
# customdata (which may hold anything the profile put there).
SECRET_FIELDS = ("root_password", "userdata", "customdata")
# Profile settings of API features that no longer exist, and why.
RETIRED = {
    "facility": "the API stopped accepting facilities in 2023: name the metro in "
                "'location' (salt-cloud --list-locations packet lists them)",
    "spot_instance": "Equinix closed the spot market on 2025-06-20: devices are on demand",
    "spot_price_max": "Equinix closed the spot market on 2025-06-20: devices are on demand",
}
BILLING_CYCLES = ("hourly", "daily", "monthly", "yearly")
# The minion id and the Kubernetes node name are this hostname; node names must be
# lowercase RFC 1123 subdomains.
HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
# Provider key that carries optimize_providers' device listing to salt-cloud's workers.
LISTING = "_vent_device_listing"
# An attempt shorter than this cannot get an answer from a real API; not worth starting.
MIN_ATTEMPT = 1.0
# Seconds: how long create waits for a device to become active (bare metal takes
# minutes), and how often it asks.
WAIT_DEFAULTS = {"wait_for_active": 1800, "poll_interval": 10}


def __virtual__():
    if not HAS_REQUESTS:
        return False, "the packet cloud driver needs python requests"
    if get_configured_provider() is False:
        return False
    return __virtualname__


def _get_active_provider_name():
    try:
        return __active_provider_name__.value()
    except AttributeError:
        return __active_provider_name__


def get_configured_provider():
    return config.is_provider_configured(
        __opts__, _get_active_provider_name() or __virtualname__, ("project_id",)
    )


def get_dependencies():
    return config.check_driver_dependencies(__virtualname__, {"requests": HAS_REQUESTS})


# ---- errors reach the user -----------------------------------------------------------
class PacketApiError(SaltCloudSystemExit):
    """A request that failed for good. The message names the URL and the HTTP status
    (or the host and the cause), never the token; ``status`` is the HTTP status, if
    one came."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class _Transient(SaltCloudException):
    """A non-idempotent request got no usable answer; it may or may not have happened."""


def _exits(fn):
    """salt-cloud swallows driver exceptions in several places and exits 0: Cloud's
    size_list/image_list/location_list log them; the worker processes that list devices
    for -Q/-d/-p/-m/-a return "no devices"; run_map puts them in its output; `-d` with
    nothing found exits 0. None of those handlers catches SystemExit, so under the
    salt-cloud command a failure ends the command here, with exit status 1.

    Not in a worker of salt-cloud's process pool (-m -P, -d -P): anything but a
    SaltCloudException there makes salt terminate the pool, and workers that inherited
    salt-cloud's SIGTERM handler can outlive that and hang the command. There salt logs
    the error and reports it as the device's "Error", and exits 0.

    Elsewhere (salt-run cloud.*, the cloud execution module, Vent's runners) SystemExit
    would end the caller's process, so they get the exception."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SaltCloudException as exc:
            if __opts__.get("__cli") != "salt-cloud":
                raise
            if "PoolWorker" in multiprocessing.current_process().name:
                raise
            raise SystemExit(f"Error: {_redact(exc)}") from None

    return wrapper


# ---- settings ----------------------------------------------------------------------
def _provider():
    conf = get_configured_provider()
    if not conf:
        raise SaltCloudConfigError("no packet provider with a project_id is configured")
    return conf


def _setting(name, vm_=None, default=None):
    """VM/map entry, then profile, then provider, then the global cloud config."""
    if vm_ is not None:
        return config.get_cloud_config_value(name, vm_, __opts__, default=default, search_global=True)
    return _provider().get(name, __opts__.get(name, default))


def _number(name, vm_, default, minimum=0.0):
    value = _setting(name, vm_, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not number >= minimum or math.isinf(number):
        raise SaltCloudConfigError(f"{name} must be a number >= {minimum:g}, not {value!r}")
    return number


def _provider_vm(alias):
    """What get_cloud_config_value needs to read one provider's settings, for code
    that salt-cloud calls without naming the active provider."""
    return {"driver": f"{alias}:{__virtualname__}", "profile": None}


def _token(vm_=None):
    token = _setting("token", vm_)
    for env in TOKEN_ENV:
        token = token or os.environ.get(env)
    if not token:
        raise SaltCloudConfigError(
            "no Packet API token: set 'token' in the provider config or export " + " / ".join(TOKEN_ENV)
        )
    return str(token)


def _redact(text, vm_=None):
    try:
        token = _token(vm_)
    except SaltCloudException:
        return str(text)
    return str(text).replace(token, "*" * 8)


def _project_id(vm_=None):
    return _setting("project_id", vm_)


# ---- HTTP --------------------------------------------------------------------------
class _Retry(SaltCloudException):
    """One attempt failed in a way that may pass: 429, 5xx, timeout, no connection."""

    def __init__(self, what, retry_after=None, unsent=False):
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after
        self.unsent = unsent  # the API did not act on it (429): safe to repeat a POST


class _Cycle:
    """The attempts of one request, or of the POSTs of one create: at most
    api_retries retries, no wait after the last attempt, and no attempt that would end
    after api_retry_budget seconds, so a dead API costs one bounded cycle."""

    def __init__(self, api):
        self.api = api
        self.started = time.monotonic()
        self.deadline = self.started + api.budget
        self.attempts = 0

    def timeout(self):
        return max(0.1, min(self.api.timeout, self.deadline - time.monotonic()))

    def wait(self, retry_after=None):
        """Seconds to wait before the next attempt; None when retries or budget are spent."""
        if self.attempts > self.api.retries:
            return None
        delay = min(self.api.backoff_max, self.api.backoff * 2 ** (self.attempts - 1))
        if retry_after is not None:
            # The API's own wait, in full: an earlier retry only spends an attempt on
            # another 429. The budget below still bounds it.
            try:
                delay = max(0.0, float(retry_after))
            except ValueError:
                pass
        if time.monotonic() + delay + MIN_ATTEMPT > self.deadline:
            return None
        return delay

    def summary(self):
        spent = time.monotonic() - self.started
        return (
            f"{self.attempts} attempt{'s' if self.attempts != 1 else ''} in {spent:.1f}s "
            f"(api_retries {self.api.retries}, api_retry_budget {self.api.budget:g}s)"
        )


class _Api:
    """One retry/backoff/error policy for every request the driver makes."""

    def __init__(self, vm_=None):
        self.url = str(_setting("api_url", vm_, DEFAULT_API_URL)).rstrip("/")
        self.token = _token(vm_)
        self.retries = int(_number("api_retries", vm_, 5))
        self.timeout = _number("api_timeout", vm_, 30, 0.1)
        self.backoff = _number("api_backoff", vm_, 1.0)
        self.backoff_max = _number("api_backoff_max", vm_, 30)
        self.budget = _number("api_retry_budget", vm_, 60, 0.1)
        self.session = requests.Session()
        self.session.headers.update(
            {
                "X-Auth-Token": self.token,
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": "vent-salt-cloud-packet",
            }
        )

    def cycle(self):
        return _Cycle(self)

    def request(self, method, path, body=None, params=None, retry_unsafe=True, cycle=None):
        """JSON of the answer (None for 204). ``retry_unsafe=False``: a timeout or 5xx
        of a non-idempotent request is raised as _Transient instead of repeated, so the
        caller can check whether it took effect."""
        url = self.url + path
        cycle = cycle or self.cycle()
        while True:
            try:
                return self._attempt(method, url, body, params, cycle)
            except _Retry as exc:
                if not retry_unsafe and not exc.unsent:
                    raise _Transient(exc.what) from None
                delay = cycle.wait(exc.retry_after)
                if delay is None:
                    final = f"Packet API {method} {url}: {exc.what}; gave up after {cycle.summary()}"
                    raise PacketApiError(self._redact(final)) from None
                log.warning(
                    "Packet API %s %s: %s; retry %d/%d in %.1fs",
                    method, url, exc.what, cycle.attempts, self.retries, delay,
                )
                time.sleep(delay)

    def _attempt(self, method, url, body, params, cycle):
        cycle.attempts += 1
        timeout = cycle.timeout()
        log.debug("Packet API %s %s (attempt %d, timeout %.1fs)", method, url, cycle.attempts, timeout)
        try:
            resp = self.session.request(method, url, json=body, params=params, timeout=timeout)
        except requests.ConnectTimeout:
            raise _Retry(f"cannot connect to {_host(url)}: no connection within {timeout:.1f}s") from None
        except requests.Timeout:
            raise _Retry(f"no answer from {_host(url)} within {timeout:.1f}s (read timeout)") from None
        except requests.ConnectionError as exc:
            raise _Retry(f"cannot connect to {_host(url)}: {_cause(exc)}") from None
        if resp.status_code in RETRY_STATUS:
            raise _Retry(_status(resp), resp.headers.get("Retry-After"), unsent=resp.status_code == 429)
        if resp.status_code >= 400:
            raise PacketApiError(
                self._redact(f"Packet API {method} {url} answered {_status(resp)}{_hint(resp.status_code)}"),
                resp.status_code,
            )
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            what = f"Packet API {method} {url} answered HTTP {resp.status_code} without JSON"
            raise PacketApiError(what) from None

    def _redact(self, text):
        return str(text).replace(self.token, "*" * 8)

    def delete_device(self, did):
        """DELETE a device; one that is no longer there (404) is gone, which is what was
        asked: a retried DELETE whose first attempt did happen gets that answer."""
        try:
            self.request("DELETE", f"/devices/{did}")
        except PacketApiError as exc:
            if exc.status != 404:
                raise
            log.info("device %s was already gone", did)

    def pages(self, path, key, params=None):
        """Every item of a paginated listing (bounded by the API's last_page)."""
        params = dict(params or {}, per_page=100)
        items = []
        for page in range(1, 1001):
            params["page"] = page
            data = self.request("GET", path, params=params) or {}
            items.extend(data.get(key, []))
            meta = data.get("meta") or {}
            if not meta.get("next") or page >= int(meta.get("last_page") or page):
                break
        return items


def _host(url):
    parts = urlsplit(url)
    return parts.netloc or url


def _cause(exc):
    """The innermost OS-level reason of a requests/urllib3 connection error, e.g.
    "Connection refused" or "Name or service not known", not urllib3's wrapper text."""
    seen, todo = set(), [exc]
    while todo:
        cur = todo.pop(0)
        if id(cur) in seen or cur is None:
            continue
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror
        todo.extend([getattr(cur, "reason", None), cur.__cause__, cur.__context__])
        todo.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
    return type(exc).__name__


def _status(resp):
    try:
        status = f"HTTP {resp.status_code} {HTTPStatus(resp.status_code).phrase}"
    except ValueError:
        status = f"HTTP {resp.status_code}"
    return f"{status}: {_errors(resp)}"


def _errors(resp):
    try:
        data = resp.json()
    except ValueError:
        return (resp.text or "").strip()[:200]
    errors = data.get("errors") or data.get("error") if isinstance(data, dict) else None
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors)
    return str(errors or data)[:200]


def _hint(status):
    return {
        401: " (check the API token)",
        403: " (the token has no access to this project or resource)",
        404: " (check project_id and names)",
    }.get(status, "")


# ---- data shaping ------------------------------------------------------------------
def _ips(device, public, family=4):
    """The device's addresses of one kind, its own (``management``) before any elastic
    IP attached to it, so the first is the one to reach it by."""
    found = [
        ip
        for ip in device.get("ip_addresses") or []
        if ip.get("address_family") == family and bool(ip.get("public")) == public
    ]
    found.sort(key=lambda ip: not ip.get("management", True))
    return [ip["address"] for ip in found]


def _location(device):
    metro = (device.get("metro") or {}).get("code")
    facility = (device.get("facility") or {}).get("code")
    return metro, facility


def _node(device):
    metro, facility = _location(device)
    return {
        "id": device["id"],
        "name": device["hostname"],
        "image": (device.get("operating_system") or {}).get("slug"),
        "size": (device.get("plan") or {}).get("slug"),
        "state": device.get("state"),
        "private_ips": _ips(device, False),
        "public_ips": _ips(device, True) + _ips(device, True, 6),
        "metro": metro,
        "facility": facility,
        "tags": device.get("tags") or [],
        "termination_time": device.get("termination_time"),
        "billing_cycle": device.get("billing_cycle"),
    }


def _public(device):
    """The device as it may be shown or cached: without the fields that hold secrets."""
    return {k: v for k, v in device.items() if k not in SECRET_FIELDS}


def _powered_off(device):
    """Stopped by its owner (``salt-cloud -a stop``): its disk is intact, never replaced."""
    return device.get("state") in ("inactive", "powering_off", "powering_on")


def _devices(api, vm_=None):
    return api.pages(f"/projects/{_project_id(vm_)}/devices", "devices")


def _find(api, hostname, vm_=None):
    found = [d for d in _devices(api, vm_) if d.get("hostname") == hostname]
    if len(found) > 1:
        log.warning("%d devices named %s in the project; using the oldest", len(found), hostname)
        found.sort(key=lambda d: d.get("created_at") or "")
    return found[0] if found else None


# ---- informational functions -------------------------------------------------------
def _function_only(call, name):
    if call == "action":
        raise SaltCloudSystemExit(f"The {name} function must be called with -f or --function.")


def _metros(api):
    return api.request("GET", "/locations/metros").get("metros", [])


def _plans(api):
    return api.request("GET", "/plans").get("plans", [])


def _operating_systems(api):
    return api.request("GET", "/operating-systems").get("operating_systems", [])


@_exits
def avail_locations(call=None):
    _function_only(call, "avail_locations")
    api = _Api()
    ret = {}
    for metro in _metros(api):
        ret[metro["code"]] = {
            "type": "metro",
            "id": metro["id"],
            "name": metro["name"],
            "country": metro.get("country"),
        }
    return ret


@_exits
def avail_sizes(call=None):
    _function_only(call, "avail_sizes")
    return {
        p["slug"]: {
            "id": p["id"],
            "name": p.get("name"),
            "description": p.get("description"),
            "pricing": p.get("pricing"),
            "specs": p.get("specs"),
            "deployment_types": p.get("deployment_types"),
        }
        for p in _plans(_Api())
    }


@_exits
def avail_images(call=None):
    _function_only(call, "avail_images")
    return {
        o["slug"]: {
            "name": o.get("name"),
            "distro": o.get("distro"),
            "version": o.get("version"),
            "provisionable_on": o.get("provisionable_on", []),
        }
        for o in _operating_systems(_Api())
    }


@_exits
def optimize_providers(providers):
    """salt-cloud calls this in its own process just before it lists devices in worker
    processes (for -Q/-F/-S, -d, -p, -m and -a), and it takes whatever goes wrong in those
    workers for "no devices": a wrong token made `-d` report nothing to destroy and exit
    0. So the listing happens here, where an error ends the command, and the workers read
    it from their copy of the provider config (``LISTING``) instead of asking again."""
    optimized = {}
    for alias, conf in providers.items():
        vm_ = _provider_vm(alias)
        devices = [_public(d) for d in _devices(_Api(vm_), vm_)]
        optimized[alias] = dict(conf, **{LISTING: devices})
    return optimized


def _listed():
    """Devices salt-cloud should see: optimize_providers' listing when it made one."""
    devices = _provider().get(LISTING)
    if devices is None:
        devices = [_public(d) for d in _devices(_Api())]
    return devices


@_exits
def list_nodes(call=None):
    _function_only(call, "list_nodes")
    return {d["hostname"]: _node(d) for d in _listed()}


@_exits
def list_nodes_full(call=None):
    _function_only(call, "list_nodes_full")
    ret = {}
    for device in _listed():
        node = _node(device)
        node["extra"] = {
            k: v
            for k, v in _public(device).items()
            if k not in ("provisioning_events", "network_ports")
        }
        ret[device["hostname"]] = node
    return ret


@_exits
def list_nodes_select(call=None):
    return __utils__["cloud.list_nodes_select"](
        list_nodes_full("function"), __opts__["query.selection"], call
    )


@_exits
def show_instance(name, call=None):
    if call != "action":
        raise SaltCloudSystemExit("The show_instance action must be called with -a or --action.")
    api = _Api()
    device = _find(api, name)
    if device is None:
        raise SaltCloudSystemExit(f"no device named {name} in project {_project_id()} ({api.url})")
    node = _node(device)
    node["extra"] = _public(device)
    __utils__["cloud.cache_node"](node, _get_active_provider_name(), __opts__)
    return node


def _power(name, call, action, verb):
    if call != "action":
        raise SaltCloudSystemExit(f"The {verb} action must be called with -a or --action.")
    api = _Api()
    device = _find(api, name)
    if device is None:
        raise SaltCloudSystemExit(f"no device named {name} in project {_project_id()} ({api.url})")
    # Not retried blindly: a second power action on a device already moving is refused.
    try:
        api.request("POST", f"/devices/{device['id']}/actions", body={"type": action}, retry_unsafe=False)
    except _Transient as exc:
        raise PacketApiError(
            f"{action} of {name} ({device['id']}): {exc}; it may or may not have happened "
            f"(salt-cloud -a show_instance {name} shows its state)") from None
    return {"id": device["id"], "action": action, "was": device["state"]}


@_exits
def stop(name, call=None):
    """``salt-cloud -a stop <name>``: power the device off (its disk stays)."""
    return _power(name, call, "power_off", "stop")


@_exits
def start(name, call=None):
    """``salt-cloud -a start <name>``: power a stopped device on."""
    return _power(name, call, "power_on", "start")


@_exits
def reboot(name, call=None):
    """``salt-cloud -a reboot <name>``."""
    return _power(name, call, "reboot", "reboot")


# ---- create: events ----------------------------------------------------------------
def _master_listening():
    """Events go to a local master's event bus; with none running each would wait ~1s
    for a socket that never answers."""
    return os.path.exists(os.path.join(__opts__["sock_dir"], "master_event_pull.ipc"))


def _event(vm_, what, tag, keys=("name", "profile", "provider", "driver")):
    if not _master_listening():
        return
    __utils__["cloud.fire_event"](
        "event",
        what,
        f"salt/cloud/{vm_['name']}/{tag}",
        args=__utils__["cloud.filter_event"](tag, vm_, list(keys)),
        sock_dir=__opts__["sock_dir"],
        transport=__opts__.get("transport", "zeromq"),
    )


# ---- create: checks before the first POST --------------------------------------------
def _metro(vm_):
    return _setting("metro", vm_) or _setting("location", vm_)


def _plan(vm_):
    return _setting("size", vm_) or _setting("plan", vm_)


def _os(vm_):
    return _setting("image", vm_) or _setting("operating_system", vm_)


def _key_file(vm_):
    """The SSH private key salt-cloud deploys with, ``~`` expanded (salt's bootstrap
    does not expand it)."""
    keyfile = _setting("key_filename", vm_) or _setting("ssh_keyfile", vm_)
    return os.path.expanduser(str(keyfile)) if keyfile else None


def _deploys(vm_):
    return bool(_setting("deploy", vm_, True))


def _name_problems(vm_):
    name = str(vm_["name"])
    if len(name) <= 253 and HOSTNAME.fullmatch(name):
        return []
    return [
        f"name {name!r} is not a valid hostname: lowercase letters, digits, '-' and '.', "
        "labels of at most 63 characters that start and end with a letter or digit "
        "(it becomes the minion id and the Kubernetes node name)"
    ]


def _required_problems(vm_):
    problems = []
    if not _plan(vm_):
        problems.append("no plan: set 'size'")
    if not _os(vm_):
        problems.append("no operating system: set 'image'")
    metro = _metro(vm_)
    if not metro:
        problems.append("no location: set 'location' to a metro code such as am")
    elif any(ch.isdigit() for ch in str(metro)):
        # Metro codes are two letters (am, ny); facility codes carry a number (ams1).
        problems.append(f"location {metro!r} is a facility code; {RETIRED['facility']}")
    billing = _setting("billing_cycle", vm_, "hourly")
    if billing not in BILLING_CYCLES:
        problems.append(f"billing_cycle {billing!r} is not one of {', '.join(BILLING_CYCLES)}")
    return problems


def _retired_problems(vm_):
    return [f"{key} is set; {why}" for key, why in RETIRED.items()
            if _setting(key, vm_) not in (None, False, "", [])]


# Settings whose type the API or this driver relies on: a string where a list belongs
# would be split into letters (tags "worker" → w, o, r, ...).
LISTS = ("tags", "project_ssh_keys", "user_ssh_keys")
FLAGS = ("public_ipv4", "always_pxe", "destroy_on_failure", "deploy")


def _type_problems(vm_):
    problems = []
    for key in LISTS:
        value = _setting(key, vm_)
        if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
            problems.append(f"{key} must be a list of strings, not {value!r}")
    for key in FLAGS:
        value = _setting(key, vm_)
        if value is not None and not isinstance(value, bool):
            problems.append(f"{key} must be true or false, not {value!r}")
    for key, default in WAIT_DEFAULTS.items():
        try:
            _number(key, vm_, default)
        except SaltCloudConfigError as exc:
            problems.append(str(exc))
    return problems


def _termination_problems(vm_):
    value = _setting("termination_time", vm_)
    if not value:
        return []
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return [f"termination_time {value!r} is not an ISO 8601 time such as 2030-01-31T12:00:00Z"]
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if when <= dt.datetime.now(dt.UTC):
        return [f"termination_time {value} is in the past"]
    return []


def _file_problems(vm_):
    problems = []
    for key in ("userdata_file", "ssh_public_key"):
        path = _setting(key, vm_)
        if path and not os.path.isfile(os.path.expanduser(str(path))):
            problems.append(f"{key} {path} does not exist")
    keyfile = _key_file(vm_)
    if keyfile and not os.path.isfile(keyfile):
        problems.append(f"ssh_keyfile {keyfile} does not exist")
    elif not keyfile and _deploys(vm_) and not _other_credentials(vm_):
        problems.append(
            "deploy is on but there is no ssh_keyfile (nor password or ssh_agent) to log in with"
        )
    return problems


def _other_credentials(vm_):
    """What salt's bootstrap accepts instead of a key file."""
    agent = __opts__.get("ssh_agent") and os.path.exists(os.environ.get("SSH_AUTH_SOCK", ""))
    return bool(agent or _setting("password", vm_) or _setting("win_password", vm_))


def _local_problems(vm_):
    return (
        _name_problems(vm_)
        + _required_problems(vm_)
        + _retired_problems(vm_)
        + _type_problems(vm_)
        + _termination_problems(vm_)
        + _file_problems(vm_)
    )


def _unknown(kind, value, known):
    shown = ", ".join(sorted(known)[:15]) + (", ..." if len(known) > 15 else "")
    return f"{kind} {value!r} is not one the API offers ({shown})"


def _catalog_problems(api, vm_):
    """The names the API would reject only after a create request, checked against its
    own lists so a typo fails before anything is requested."""
    problems = []
    plans = {p.get("slug") for p in _plans(api)}
    if _plan(vm_) not in plans:
        problems.append(_unknown("plan", _plan(vm_), plans))
    systems = {o.get("slug") for o in _operating_systems(api)}
    if _os(vm_) not in systems:
        problems.append(_unknown("operating system", _os(vm_), systems))
    metros = {m.get("code") for m in _metros(api)}
    if _metro(vm_) not in metros:
        problems.append(_unknown("metro", _metro(vm_), metros))
    return problems


def _refuse(vm_, problems):
    """Nothing was created: say so, with every problem at once."""
    lines = "\n".join(f"  - {p}" for p in problems)
    where = f"profile {vm_['profile']} or its map entry" if vm_.get("profile") else "its settings"
    return SaltCloudConfigError(f"{vm_['name']} was not created (no device requested); fix {where}:\n{lines}")


# ---- create: the request -----------------------------------------------------------
def _ssh_key_ids(api, vm_):
    project_keys = list(_setting("project_ssh_keys", vm_, []) or [])
    user_keys = list(_setting("user_ssh_keys", vm_, []) or [])
    pub_path = _setting("ssh_public_key", vm_)
    keyfile = _key_file(vm_)
    if not pub_path and keyfile and os.path.isfile(f"{keyfile}.pub"):
        pub_path = f"{keyfile}.pub"
    if pub_path:
        with salt.utils.files.fopen(os.path.expanduser(pub_path)) as fh:
            public = fh.read().strip()
        project_keys.append(_ensure_project_key(api, vm_, public))
    return project_keys, user_keys


def _ensure_project_key(api, vm_, public):
    """The id of the project SSH key with this public key, registered if missing."""
    path = f"/projects/{_project_id(vm_)}/ssh-keys"
    wanted = public.split()[:2]

    def registered():
        for key in api.request("GET", path).get("ssh_keys", []):
            if key.get("key", "").split()[:2] == wanted:
                return key["id"]
        return None

    found = registered()
    if found:
        return found
    comment = public.split()[2] if len(public.split()) > 2 else "salt-cloud"
    # Not repeated blindly: a POST that did happen would register the key twice, or be
    # refused as a duplicate.
    try:
        created = api.request("POST", path, body={"label": f"vent {comment}", "key": public},
                              retry_unsafe=False)
    except _Transient as exc:
        found = registered()
        if found:
            return found
        raise PacketApiError(f"registering the SSH key in project {_project_id(vm_)} failed: "
                             f"{exc}; it is not registered, nothing was created") from None
    log.info("registered SSH key %s in project %s", created["id"], _project_id(vm_))
    return created["id"]


def _userdata(vm_):
    userdata = _setting("userdata", vm_)
    path = _setting("userdata_file", vm_)
    if path:
        with salt.utils.files.fopen(os.path.expanduser(str(path))) as fh:
            userdata = fh.read()
    if userdata:
        userdata = __utils__["cloud.userdata_template"](__opts__, vm_, userdata)
    return userdata


def _create_body(api, vm_):
    body = {
        "hostname": vm_["name"],
        "plan": _plan(vm_),
        "operating_system": _os(vm_),
        "billing_cycle": _setting("billing_cycle", vm_, "hourly"),
        "tags": list(_setting("tags", vm_, []) or []),
        "metro": _metro(vm_),
    }
    project_keys, user_keys = _ssh_key_ids(api, vm_)
    if project_keys:
        body["project_ssh_keys"] = project_keys
    if user_keys:
        body["user_ssh_keys"] = user_keys
    userdata = _userdata(vm_)
    if userdata:
        body["userdata"] = userdata
    for key in ("termination_time", "ipxe_script_url", "hardware_reservation_id"):
        value = _setting(key, vm_)
        if value:
            body[key] = str(value)
    if _setting("always_pxe", vm_, False):
        body["always_pxe"] = True
    if not _setting("public_ipv4", vm_, True):
        body["ip_addresses"] = [{"address_family": 4, "public": False}]
    return body


def _post_device(api, vm_, body):
    """POST the device; a timeout/5xx may still have created it, so look before trying
    again rather than risk a twin. The POSTs share one retry cycle; a look that fails for
    good ends the create, saying that the device may exist."""
    name, path = vm_["name"], f"/projects/{_project_id(vm_)}/devices"
    cycle = api.cycle()
    while True:
        try:
            return api.request("POST", path, body=body, retry_unsafe=False, cycle=cycle)
        except _Transient as exc:
            failure = f"Packet API POST {api.url}{path}: {exc}"
        delay = cycle.wait()
        if delay is not None:
            time.sleep(delay)  # time for a create the API did start to show up
        existing = _look_after_failed_post(api, vm_, failure)
        if existing is not None:
            log.warning("create of %s answered %s but the device exists", name, failure)
            return existing
        if delay is None:
            raise PacketApiError(
                f"{name} was not created: {failure}; gave up after {cycle.summary()}; "
                f"no device named {name} is in project {_project_id(vm_)}"
            )
        log.warning("create of %s: %s; retry %d/%d", name, failure, cycle.attempts, api.retries)


def _look_after_failed_post(api, vm_, failure):
    try:
        return _find(api, vm_["name"], vm_)
    except PacketApiError as exc:
        name = vm_["name"]
        raise PacketApiError(
            f"creating {name} failed ({failure}) and whether the device exists is unknown: {exc}. "
            f"Check with `salt-cloud -Q`; if it is listed, remove it with `salt-cloud -d {name}`"
        ) from None


# ---- create: after the POST ----------------------------------------------------------
def _why_dead(device):
    return f"it went {device.get('state')}"


def _wait_active(api, vm_, device):
    timeout = _number("wait_for_active", vm_, WAIT_DEFAULTS["wait_for_active"])
    interval = _number("poll_interval", vm_, WAIT_DEFAULTS["poll_interval"])
    deadline = time.monotonic() + timeout
    while True:
        state = device.get("state")
        if state == "active":
            return device
        if state in DEAD_STATES:
            raise SaltCloudSystemExit(_why_dead(device))
        if time.monotonic() >= deadline:
            raise SaltCloudSystemExit(
                f"it was not active after {timeout:g}s (state {state}); raise wait_for_active "
                "if this plan needs longer"
            )
        log.debug("device %s is %s, waiting", vm_["name"], state)
        time.sleep(max(0.05, min(interval, deadline - time.monotonic())))
        device = api.request("GET", f"/devices/{device['id']}")


def _grains(vm_, device):
    metro, facility = _location(device)
    private = _ips(device, False)
    public = _ips(device, True)
    grains = dict(_setting("grains", vm_, {}) or {})
    roles = [t for t in device.get("tags") or [] if t in ROLES]
    grains["roles"] = sorted(set(grains.get("roles", [])) | set(roles))
    vent = dict(grains.get("vent") or {})
    vent.update(
        {
            "private_ip": private[0] if private else None,
            "public_ip": public[0] if public else None,
            "device_id": device["id"],
            "metro": metro,
            "facility": facility,
            "plan": (device.get("plan") or {}).get("slug"),
        }
    )
    grains["vent"] = vent
    return grains


def _deploy(vm_, device):
    node = _node(device)
    grains = _grains(vm_, device)
    vm_["grains"] = grains
    use_private = _setting("ssh_interface", vm_, "public_ips") == "private_ips"
    host = node["private_ips"] if use_private or not _ips(device, True) else _ips(device, True)
    if not host:
        raise SaltCloudSystemExit("it has no IPv4 address to deploy over")
    vm_["ssh_host"] = host[0]
    vm_.setdefault("ssh_username", device.get("user") or "root")
    other = _util("vent_deploy.unsupported")(vm_, __opts__) if _deploys(vm_) else ["deploy: false"]
    dropped = _util("vent_deploy.drop_foreign_pending_key")(vm_, __opts__) if _deploys(vm_) else None
    if dropped:
        log.warning("%s: removed the pending minion key %s: it is not the key made for this "
                    "device (most likely the minion of the machine it replaces, still running)",
                    vm_["name"], dropped)
    if other:
        log.info("%s: salt-cloud's own deploy (%s)", vm_["name"], ", ".join(other))
        ret = __utils__["cloud.bootstrap"](vm_, __opts__)
    else:
        # Vent's modules go along: the new minion starts in step with the master, and
        # the orchestration's refresh step has nothing to sync on it.
        ret = _util("vent_deploy.deploy")(vm_, __opts__, _util("vent_minion_sync.shipped_files")(__opts__))
    failed = (ret.get("Error") or {}).get("Not Deployed") if isinstance(ret, dict) else None
    if failed:
        raise SaltCloudSystemExit(f"the Salt deploy failed: {failed}")
    ret.update(node)
    ret["grains"] = grains
    return ret


def _finish(api, vm_, device, destroy_on_failure):
    """Wait for the device and deploy Salt on it. Whatever fails from here on leaves a
    billed machine, so the error names it and how to remove it, or removes it."""
    try:
        return _deploy(vm_, _wait_active(api, vm_, device))
    except KeyboardInterrupt:
        # The user stops the command: no removal they did not ask for, but the device
        # they are billed for is named.
        log.error("%s", _left_behind(api, vm_, device, "the command was interrupted", False))
        raise
    except Exception as exc:  # any failure here leaves the device: it must be named
        message = _left_behind(api, vm_, device, _redact(exc, vm_), destroy_on_failure)
        _event(vm_, message, "failed")
        raise SaltCloudSystemExit(message) from None


def _state_now(api, device):
    """The device's state as the API has it now; the last one seen if it cannot say."""
    try:
        return api.request("GET", f"/devices/{device['id']}").get("state")
    except PacketApiError:
        return device.get("state")


def _left_behind(api, vm_, device, why, remove):
    name, did, project = vm_["name"], device["id"], _project_id(vm_)
    head = f"device {name} ({did}) was created but {why}"
    keep = f"It is still in project {project}, billed until removed: salt-cloud -d {name}"
    if not remove:
        return f"{head}. {keep}"
    state = _state_now(api, device)
    if state in PROVISIONING:
        return (f"{head}; it is still {state}, and the API deletes a device only once its "
                f"provisioning has ended (active or failed). {keep}")
    try:
        api.delete_device(did)
    except PacketApiError as exc:
        return f"{head}; destroying it (destroy_on_failure) failed: {exc}. {keep}"
    return f"{head}; destroyed it (destroy_on_failure), re-run to create it again"


def _reusable(api, vm_, destroy_on_failure):
    """The existing device of this name, None when there is none or it was removed."""
    device = _find(api, vm_["name"], vm_)
    if device is None:
        return None
    if _powered_off(device):
        raise SaltCloudSystemExit(
            f"device {vm_['name']} ({device['id']}) exists and is {device['state']}; "
            f"`salt-cloud -a start {vm_['name']}` powers it on")
    if device.get("state") not in DEAD_STATES:
        log.info("device %s exists (%s): reusing it", vm_["name"], device["id"])
        return device
    if not destroy_on_failure:
        raise SaltCloudSystemExit(
            f"device {vm_['name']} ({device['id']}) exists but {_why_dead(device)}; "
            f"remove it with `salt-cloud -d {vm_['name']}` and re-run"
        )
    log.warning("%s exists but is %s; replacing it", vm_["name"], device.get("state"))
    api.delete_device(device["id"])
    return None


def _profile_missing(vm_):
    try:
        return bool(vm_["profile"]) and (
            config.is_profile_configured(
                __opts__, _get_active_provider_name() or __virtualname__, vm_["profile"], vm_=vm_
            )
            is False
        )
    except AttributeError:
        return False


@_exits
def create(vm_):
    if _profile_missing(vm_):
        return False
    problems = _local_problems(vm_)
    if problems:
        raise _refuse(vm_, problems)
    _event(vm_, "starting create", "creating")
    api = _Api(vm_)
    keyfile = _key_file(vm_)
    if keyfile:
        vm_["key_filename"] = keyfile
    destroy_on_failure = bool(_setting("destroy_on_failure", vm_, False))

    device = _reusable(api, vm_, destroy_on_failure)
    if device is None:
        problems = _catalog_problems(api, vm_)
        if problems:
            raise _refuse(vm_, problems)
        body = _create_body(api, vm_)
        _event(vm_, "requesting instance", "requesting")
        device = _post_device(api, vm_, body)
        log.info("created device %s (%s)", vm_["name"], device["id"])

    ret = _finish(api, vm_, device, destroy_on_failure)
    _event(vm_, "created instance", "created")
    return ret


# ---- destroy -----------------------------------------------------------------------
def _fire(what, tag, args):
    if _master_listening():
        __utils__["cloud.fire_event"](
            "event", what, tag, args=args,
            sock_dir=__opts__["sock_dir"], transport=__opts__.get("transport", "zeromq"),
        )


@_exits
def destroy(name, call=None):
    if call == "function":
        raise SaltCloudSystemExit("The destroy action must be called with -d, --destroy, -a or --action.")
    _fire("destroying instance", f"salt/cloud/{name}/destroying", args={"name": name})
    api = _Api()
    device = _find(api, name)
    if device is None:
        raise SaltCloudSystemExit(f"no device named {name} in project {_project_id()} ({api.url})")
    if device.get("state") in PROVISIONING:
        raise SaltCloudSystemExit(
            f"{name} ({device['id']}) is {device['state']}: the API deletes a device only once "
            f"its provisioning has ended; run `salt-cloud -d {name}` again when it is active or failed")
    try:
        api.delete_device(device["id"])
    except PacketApiError as exc:
        raise PacketApiError(f"{name} ({device['id']}) was not destroyed, it still exists: {exc}") from None
    _fire("destroyed instance", f"salt/cloud/{name}/destroyed", args={"name": name})
    if __opts__.get("update_cachedir", False) is True:
        __utils__["cloud.delete_minion_cachedir"](name, _get_active_provider_name().split(":")[0], __opts__)
    return {"id": device["id"], "state": "destroyed"}
