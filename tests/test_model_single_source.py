"""Each setting lives in one place: pillar/vent/defaults.sls for the defaults, the
cluster model (salt/_utils/vent_model.py) for what is derived. A default written again
as a literal in code (a `.get(key, 6443)`, a path in a formula's defaults.yaml) is a
second source that drifts; this test finds them."""

from __future__ import annotations

import io
import re
import tokenize

import pytest
from conftest import REPO, settings

from ventlab.model import model

VENT = settings()
PATHS = model.paths(VENT)
PORTS = model.ports(VENT)
LAB = model.lab_network()
# The literals of the defaults that were once copied around, with where their one
# source is. Values are read from that source, so the list follows the pillar. A
# number counts only beside its key's name (120 is also, say, a kubectl timeout).
SINGLE = {
    PATHS["pki"]: ("vent:pki:dir", None),
    PATHS["kubeconfig"]: ("vent:pki:kubeconfig_dir", None),
    PATHS["mirror"]: ("vent:artifacts:mirror", None),
    PATHS["unpack_root"]: ("vent:artifacts:unpack_root", None),
    PATHS["bin"]: ("vent:kubernetes:dirs:bin", None),
    PATHS["systemd"]: ("vent:kubernetes:dirs:systemd", None),
    str(PORTS["api"]): ("vent:cluster:api:port", None),
    str(PORTS["etcd_client"]): ("vent:etcd:client_port", None),
    str(PORTS["kubelet"]): ("vent:kubelet:port", None),
    str(model.ready_timeout(VENT)): ("vent:kubernetes:ready_timeout", "ready_timeout"),
    VENT["pki"]["ca_minion"]: ("vent:pki:ca_minion", None),
    LAB["public"]: ("vent_model.LAB", None),
    LAB["private"]: ("vent_model.LAB", None),
}
# Where a value may be written: its source, and files whose subject it is.
ALLOWED = {
    "salt/_utils/vent_model.py": {LAB["public"], LAB["private"]},
    # A container image's PATH, not the cluster's bin dir.
    "ventlab/build/oci.py": {PATHS["bin"]},
    # The node image's own layout: the minion under /opt/vent/salt, its wheelhouse.
    "ventlab/machines/image.py": {PATHS["unpack_root"]},
}
SCANNED = ("salt", "formulas", "ventlab", "etc/salt", "lab")


def _python_literals(text: str) -> list[tuple[int, str]]:
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.STRING, tokenize.NUMBER):
            out.append((tok.start[0], tok.string.strip("\"'rbf")))
    return out


def _template_lines(text: str) -> list[tuple[int, str]]:
    """Jinja/YAML without comments, line by line."""
    text = re.sub(r"\{#.*?#\}", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return [(n, line.split(" #", 1)[0] if not line.lstrip().startswith("#") else "")
            for n, line in enumerate(text.splitlines(), 1)]


def _offences(rel: str, text: str) -> list[str]:
    pieces = _python_literals(text) if rel.endswith(".py") else _template_lines(text)
    found = []
    lines = text.splitlines()
    for value, (key, leaf) in SINGLE.items():
        if value in ALLOWED.get(rel, ()):
            continue
        pattern = re.compile(rf"(?<![\w./-]){re.escape(value)}(?![\w.-])")
        found += [f"{rel}:{n}: {value!r} repeats {key}" for n, piece in pieces
                  if pattern.search(piece) and (leaf is None or leaf in lines[n - 1])]
    return found


def _files():
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".sls", ".jinja", ".yaml", ".conf") \
                    and "__pycache__" not in path.parts and not path.name.endswith(".example"):
                yield path


def test_no_default_is_written_twice():
    offences = [o for path in _files() for o in _offences(str(path.relative_to(REPO)), path.read_text())]
    assert offences == []


@pytest.mark.parametrize(("rel", "text"), [
    ("salt/_modules/x.py", 'port = vent.get("api", {}).get("port", 6443)\n'),
    ("formulas/x-formula/x/map.jinja",
     '{%- set d = salt["pillar.get"]("vent:pki:dir", "/etc/vent/pki") %}\n'),
    ("formulas/x-formula/x/defaults.yaml", "bin_dir: /usr/local/bin\n"),
])
def test_the_check_finds_a_copied_default(rel, text):
    assert len(_offences(rel, text)) == 1


@pytest.mark.parametrize(("rel", "text"), [
    ("salt/_modules/x.py", "# the API listens on 6443 on every address\nport = ports['api']\n"),
    ("formulas/x-formula/x/init.sls", "{#- waits up to 120 s #}\nname: /etc/vent/pkix\n"),
])
def test_comments_and_other_values_pass(rel, text):
    assert _offences(rel, text) == []
