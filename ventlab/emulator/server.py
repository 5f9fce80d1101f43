"""The HTTP side of the emulator: Packet / Equinix Metal API v1 routes under
``/metal/v1`` (the bare paths work too, like the old ``api.packet.net``), plus admin
routes under ``/_emulator`` for tests and the lab:

- ``GET/DELETE /_emulator/calls``            the API calls received (never headers)
- ``POST/GET/DELETE /_emulator/faults``      next N requests → 429/5xx/timeout
- ``POST /_emulator/fail-next-devices``      ``{"count": N}``: next N devices go failed
- ``POST /_emulator/devices/<id>/fail``      device goes ``failed``
- ``GET  /_emulator/state``                  everything, for debugging
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import catalog
from .devices import ApiError, State
from .faults import Faults

log = logging.getLogger(__name__)
PREFIX = "/metal/v1"
ADMIN = "/_emulator"


class Emulator:
    """One emulated API endpoint. ``start()`` serves in a background thread (for tests
    and the lab); ``serve_forever()`` serves in the caller's thread (the CLI)."""

    def __init__(self, state: State, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = state
        self.faults = Faults()
        self.calls: list[dict] = []
        self.calls_lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"emulator": self})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    @property
    def admin_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{ADMIN}"

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.state.stop()
        self.httpd.shutdown()
        self.httpd.server_close()

    def record(self, entry: dict) -> None:
        with self.calls_lock:
            self.calls.append(entry)

    # ---- API routes --------------------------------------------------------------
    def api(self, method: str, path: str, query: dict, body: dict | None) -> tuple[int, object]:
        st = self.state
        routes = [
            ("GET", r"/projects", lambda: _page("projects", list(st.projects.values()), query)),
            ("GET", r"/projects/(?P<pid>[^/]+)", lambda pid: st.project(pid)),
            (
                "GET",
                r"/projects/(?P<pid>[^/]+)/devices",
                lambda pid: _page("devices", _filter(st.project_devices(pid), query), query),
            ),
            (
                "POST",
                r"/projects/(?P<pid>[^/]+)/devices",
                lambda pid: (201, st.create_device(pid, body or {})),
            ),
            ("GET", r"/devices/(?P<did>[^/]+)", lambda did: st.device(did)),
            ("DELETE", r"/devices/(?P<did>[^/]+)", lambda did: (204, st.delete_device(did))),
            (
                "POST",
                r"/devices/(?P<did>[^/]+)/actions",
                lambda did: (202, st.action(did, body or {})),
            ),
            (
                "GET",
                r"/devices/(?P<did>[^/]+)/ips",
                lambda did: {"ip_addresses": st.device(did)["ip_addresses"]},
            ),
            ("GET", r"/locations/metros", lambda: {"metros": catalog.metros()}),
            ("GET", r"/plans", lambda: {"plans": catalog.plans()}),
            ("GET", r"/operating-systems", lambda: {"operating_systems": catalog.operating_systems()}),
            ("GET", r"/ssh-keys", lambda: {"ssh_keys": st.keys_of(None)}),
            ("POST", r"/ssh-keys", lambda: (201, st.add_ssh_key(body or {}, "/user"))),
            ("DELETE", r"/ssh-keys/(?P<kid>[^/]+)", lambda kid: (204, st.delete_ssh_key(kid))),
            (
                "GET",
                r"/projects/(?P<pid>[^/]+)/ssh-keys",
                lambda pid: {"ssh_keys": st.keys_of(st.project(pid)["href"])},
            ),
            (
                "POST",
                r"/projects/(?P<pid>[^/]+)/ssh-keys",
                lambda pid: (201, st.add_ssh_key(body or {}, st.project(pid)["href"])),
            ),
        ]
        return _dispatch(routes, method, path)

    def admin(self, method: str, path: str, body: dict | None) -> tuple[int, object]:
        st = self.state

        def calls():
            with self.calls_lock:
                return {"calls": list(self.calls)}

        def clear_calls():
            with self.calls_lock:
                self.calls.clear()
            return 204, None

        def fail_next():
            with st.lock:
                st.fail_next_devices = int((body or {}).get("count", 1))
            return {"fail_next_devices": st.fail_next_devices}

        def faults_add():
            try:
                return 201, self.faults.add(body or {}).as_dict()
            except ValueError as exc:
                raise ApiError(422, str(exc)) from exc

        routes = [
            ("GET", r"/calls", calls),
            ("DELETE", r"/calls", clear_calls),
            ("GET", r"/faults", lambda: {"faults": self.faults.as_list()}),
            ("POST", r"/faults", faults_add),
            ("DELETE", r"/faults", lambda: (204, self.faults.clear())),
            ("POST", r"/fail-next-devices", fail_next),
            ("POST", r"/devices/(?P<did>[^/]+)/fail", lambda did: st.fail(did)),
            (
                "GET",
                r"/state",
                lambda: {"projects": st.projects, "devices": st.devices, "ssh_keys": st.ssh_keys},
            ),
        ]
        return _dispatch(routes, method, path)


def _dispatch(routes, method: str, path: str) -> tuple[int, object]:
    path_known = False
    for verb, pattern, fn in routes:
        m = re.fullmatch(pattern, path)
        if not m:
            continue
        path_known = True
        if verb != method:
            continue
        result = fn(**m.groupdict())
        if isinstance(result, tuple):
            return result
        return 200, result
    if path_known:
        raise ApiError(405, f"{method} is not allowed on {path}")
    raise ApiError(404, "Not found")


def _filter(devices: list[dict], query: dict) -> list[dict]:
    """``search`` matches hostname (and id, short id) like the real API's search."""
    term = query.get("search")
    if not term:
        return devices
    return [d for d in devices if term in (d["hostname"], d["id"], d["short_id"]) or term in d["hostname"]]



def _page(key: str, items: list, query: dict) -> dict:
    per_page = max(1, min(1000, int(query.get("per_page", 10))))
    page = max(1, int(query.get("page", 1)))
    last = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def href(n):
        return {"href": f"?page={n}&per_page={per_page}"}

    return {
        key: chunk,
        "meta": {
            "first": href(1),
            "previous": href(page - 1) if page > 1 else None,
            "self": href(page),
            "next": href(page + 1) if page < last else None,
            "last": href(last),
            "current_page": page,
            "last_page": last,
            "total": len(items),
        },
    }


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"
    server_version = "vent-metal-emulator"

    def log_message(self, fmt, *args):  # requests go to the call record, not stderr
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._send(400, {"errors": ["request body is not JSON"]})
            return
        path = url.path.rstrip("/") or "/"
        emu = self.emulator
        if path.startswith(ADMIN):
            self._answer(lambda: emu.admin(method, path[len(ADMIN) :], body))
            return
        if path.startswith(PREFIX):
            path = path[len(PREFIX) :] or "/"
        entry = {"method": method, "path": path, "query": query, "body": body, "time": time.time()}
        emu.record(entry)
        fault = emu.faults.take(method, path)
        if fault is not None and not fault.after:
            self._fault(entry, fault)
            return
        token = self.headers.get("X-Auth-Token")
        if token not in emu.state.tokens:
            entry["status"] = 401
            self._send(401, {"errors": ["Invalid authentication token"]})
            return
        if fault is not None:
            try:
                emu.api(method, path, query, body)
            except ApiError:
                pass
            self._fault(entry, fault)
            return
        entry["status"] = self._answer(lambda: emu.api(method, path, query, body))

    def _fault(self, entry: dict, fault) -> None:
        entry["status"] = fault.status
        entry["fault"] = True
        if fault.status == "timeout":
            time.sleep(fault.delay)
            self.close_connection = True
            return
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        self._send(fault.status, {"errors": [HTTPStatus(fault.status).phrase]}, headers)

    def _answer(self, fn) -> int:
        try:
            status, payload = fn()
        except ApiError as exc:
            status, payload = exc.status, {"errors": exc.errors}
        except Exception as exc:  # an emulator bug must still answer like the API would
            log.exception("emulator error")
            status, payload = 500, {"errors": [f"emulator error: {exc}"]}
        self._send(status, payload)
        return status

    def _send(self, status: int, payload, headers: dict | None = None) -> None:
        data = b"" if status == 204 or payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if data:
            self.wfile.write(data)
