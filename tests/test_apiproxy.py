"""The node-local API proxy (apiproxy formula): its haproxy.cfg as the formula renders
it, Debian's haproxy running that file in front of a test double of a controller, and
its clean twin leaving alone a haproxy that Vent did not install."""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading
import time

import jinja2
import pki_for_tests
import pytest
import yaml
from conftest import REPO, settings
from test_node_minion import LocalMinion, changed

from tests.lab import cluster

FORMULA = REPO / "formulas" / "apiproxy-formula" / "apiproxy"

CLEAN_IDS = {"apiproxy-service-clean-service-dead", "apiproxy-config-clean-file-absent",
             "apiproxy-package-clean-pkg-removed"}


@pytest.mark.salt
def test_clean_on_a_controller_leaves_the_operators_haproxy_alone(salt_factories, tmp_path):
    """A controller gets no proxy from `apiproxy`, so `apiproxy.clean` must not stop,
    unconfigure or remove a haproxy the operator runs there."""
    minion = LocalMinion(salt_factories, tmp_path, roles=("controller",))
    config = tmp_path / "haproxy.cfg"
    config.write_text("# the operator's own haproxy\n")
    vent = {"apiproxy": {"config_file": str(config)}}
    states = minion.apply("apiproxy.clean", vent)
    assert not CLEAN_IDS & set(states), sorted(states)
    assert changed(states) == {}
    assert config.read_text() == "# the operator's own haproxy\n"


@pytest.mark.salt
def test_clean_on_a_worker_takes_the_proxy_back(salt_factories, tmp_path):
    minion = LocalMinion(salt_factories, tmp_path, roles=("worker",))
    assert CLEAN_IDS <= set(minion.call("state.show_sls", "apiproxy.clean"))


TWO_CONTROLLERS = [{"name": "controller-0", "address": "100.72.0.2:6443"},
                   {"name": "controller-1", "address": "100.72.0.3:6443"}]


def render_config(tmp_path, listen="127.0.0.1:6443", backends=TWO_CONTROLLERS, pillar=None,
                  ca_file=None) -> str:
    """haproxy.cfg from the formula's template, its defaults and the pillar defaults
    (``pillar``: vent:apiproxy settings over them), fronting ``backends``."""
    ctx = {**yaml.safe_load((FORMULA / "defaults.yaml").read_text()), **settings()["apiproxy"],
           **(pillar or {}), "listen": listen, "ca_file": str(ca_file or tmp_path / "ca.crt"),
           "backends": backends}
    template = (FORMULA / "files" / "haproxy.cfg.jinja").read_text()
    # Salt's Jinja keeps the template's last newline, which haproxy requires.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)  # noqa: S701 (a config file, not HTML)
    return env.from_string(template).render(ctx=ctx)


def test_haproxy_drops_root_into_its_chroot(tmp_path):
    """Debian's package creates the haproxy user and /var/lib/haproxy; nothing the proxy
    reads after startup lies outside the chroot (the CA file is read before it enters;
    /dev/log is bound in by Debian's unit)."""
    text = render_config(tmp_path)
    global_section = text.split("\nglobal\n", 1)[1].split("\n\n", 1)[0]
    settings_ = [line.split(None, 1) for line in global_section.splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
    assert ["user", "haproxy"] in settings_
    assert ["group", "haproxy"] in settings_
    assert ["chroot", "/var/lib/haproxy"] in settings_
    assert ["log", "/dev/log local0 warning"] in settings_


def test_rendered_config_passes_haproxys_own_check(tmp_path):
    """Debian's haproxy (requirements.apt) accepts the rendered file with `haproxy -c`,
    as the formula's check_cmd does before writing it; the user and chroot it names are
    the ones Debian's package makes."""
    assert shutil.which("haproxy"), "haproxy is not installed: ./vent setup installs it (requirements.apt)"
    assert subprocess.run(["getent", "passwd", "haproxy"], capture_output=True).returncode == 0, \
        "haproxy is installed but not from Debian's package: its user is missing"
    pki_for_tests.write_ca(tmp_path / "ca.crt")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render_config(tmp_path))
    check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


class ControllerDouble(http.server.BaseHTTPRequestHandler):
    """Test double of a controller's API: /readyz refuses the anonymous check (403, as
    before the API's RBAC is bootstrapped) until ``ready`` is set; /version answers."""

    ready: threading.Event
    checks: list

    def do_GET(self):  # noqa: N802
        if self.path == "/readyz":
            self.checks.append(time.monotonic())
            code = 200 if self.ready.is_set() else 403
        else:
            code = 200
        body = b"ok" if code == 200 else b"forbidden"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _through_proxy(port, ca_file) -> bool:
    """One GET /version through the proxy reached the controller."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /version HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return tls.recv(64).startswith(b"HTTP/1.0 200")
    except (OSError, ssl.SSLError):
        return False


def test_a_controller_that_turns_ready_rejoins_at_the_recheck_interval(tmp_path):
    """A controller whose /readyz fails leaves the rotation and is asked again every
    vent:apiproxy:recheck_interval, not every check_interval: it is back within about
    rise x recheck_interval of turning ready. (Kubelets that start before the API back
    off up to 7 s between registrations; a proxy that rejoins late makes them miss a
    round.) check_interval is 10 s here, so rejoining on it would take 10 s or more."""
    assert shutil.which("haproxy"), "haproxy is not installed: ./vent setup installs it (requirements.apt)"
    recheck = settings()["apiproxy"]["recheck_interval"]
    handler = type("Controller", (ControllerDouble,), {"ready": threading.Event(), "checks": []})
    with pki_for_tests.https_server(tmp_path, handler) as (url, ca_file):
        port = _free_port()
        cfg = tmp_path / "haproxy.cfg"
        cfg.write_text(render_config(
            tmp_path, listen=f"127.0.0.1:{port}", pillar={"check_interval": "10s"}, ca_file=ca_file,
            backends=[{"name": "controller-0", "address": url.removeprefix("https://")}]))
        proxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # Out of rotation: the first check's 403 takes it out, then it is asked again.
            cluster.wait(f"3 /readyz checks with recheck_interval {recheck}",
                         lambda: len(handler.checks) >= 3, timeout=8, interval=0.05)
            assert not _through_proxy(port, ca_file), "a controller whose /readyz fails stays in rotation"
            handler.ready.set()
            turned_ready = time.monotonic()
            cluster.wait("the controller back in rotation", lambda: _through_proxy(port, ca_file),
                         timeout=25, interval=0.05)
            rejoined = time.monotonic() - turned_ready
        finally:
            proxy.terminate()
            log = proxy.communicate(timeout=10)[0]
    assert rejoined < 5, f"back in rotation {rejoined:.1f} s after turning ready (recheck {recheck})\n{log}"
