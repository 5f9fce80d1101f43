"""The node-local API proxy (apiproxy formula): its haproxy.cfg as the formula renders
it, and its clean twin leaving alone a haproxy that Vent did not install."""

from __future__ import annotations

import datetime
import shutil
import subprocess

import jinja2
import pytest
import yaml
from conftest import REPO, settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from test_node_minion import LocalMinion, changed

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


def render_config(tmp_path) -> str:
    """haproxy.cfg from the formula's template, its defaults and the pillar defaults,
    fronting two controllers."""
    ctx = {**yaml.safe_load((FORMULA / "defaults.yaml").read_text()), **settings()["apiproxy"],
           "listen": "127.0.0.1:6443", "ca_file": str(tmp_path / "ca.crt"),
           "backends": [{"name": "controller-0", "address": "100.72.0.2:6443"},
                        {"name": "controller-1", "address": "100.72.0.3:6443"}]}
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
    (tmp_path / "ca.crt").write_bytes(_ca_pem())
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(render_config(tmp_path))
    check = subprocess.run(["haproxy", "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def _ca_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vent-test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)
