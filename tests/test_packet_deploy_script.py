"""The minion deploy script (etc/salt/cloud.deploy.d/vent-minion.sh) run the way
salt-cloud runs it, offline from a wheelhouse, writing into a scratch root without
starting systemd (the host has none; the lab tests start the real minion)."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO

SCRIPT = REPO / "etc" / "salt" / "cloud.deploy.d" / "vent-minion.sh"


def _stand_in_salt_wheel(wheelhouse: Path, version: str = "3008.4", package: dict | None = None) -> None:
    """Test double: a wheel named salt with only its metadata and the files of
    ``package`` ({path in salt/: text}), so the offline pip path runs without the real
    20 MB of Salt and its dependencies."""
    dist = f"salt-{version}.dist-info"
    files = {
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: salt\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: vent-test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
        **{f"salt/{name}": text for name, text in (package or {}).items()},
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\n".join(record) + "\n"
    with zipfile.ZipFile(wheelhouse / f"salt-{version}-py3-none-any.whl", "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)


def _run(*args, env=None):
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture
def upload(tmp_path):
    """What salt-cloud uploads beside deploy.sh."""
    src = tmp_path / "saltcloud"
    src.mkdir()
    (src / "minion").write_text(yaml.safe_dump({"master": "127.0.0.1", "id": "worker-0"}))
    grains = {"roles": ["worker"], "vent": {"private_ip": "100.72.0.3"}}
    (src / "grains").write_text(yaml.safe_dump(grains))
    (src / "minion.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    (src / "minion.pub").write_text("-----BEGIN PUBLIC KEY-----\n")
    return src


def test_offline_install_writes_config_grains_keys_and_unit(tmp_path, upload):
    wheelhouse = _wheelhouse(tmp_path)
    root, prefix = tmp_path / "root", tmp_path / "venv"
    args = ["-c", str(upload), "-w", str(wheelhouse), "-p", str(prefix), "-r", str(root), "-n"]
    proc = _run(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"from {wheelhouse}" in proc.stdout

    version = subprocess.run(
        [str(prefix / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('salt'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "3008.4"

    etc = root / "etc" / "salt"
    assert yaml.safe_load((etc / "minion.d" / "99-salt-cloud.conf").read_text())["id"] == "worker-0"
    base = yaml.safe_load((etc / "minion.d" / "00-vent.conf").read_text())
    assert base == {"acceptance_wait_time": 1, "auth_timeout": 5, "lazy_loader_strict_matching": True,
                    "disable_modules": ["x509"]}
    assert yaml.safe_load((etc / "grains").read_text())["roles"] == ["worker"]
    assert stat.S_IMODE((etc / "pki" / "minion" / "minion.pem").stat().st_mode) == 0o600
    unit = (root / "etc" / "systemd" / "system" / "salt-minion.service").read_text()
    assert f"ExecStart={prefix}/bin/salt-minion --disable-keepalive\n" in unit
    assert "Restart=on-failure" in unit
    assert "KillMode=mixed" in unit and "TimeoutStopSec=10" in unit
    assert (root / "usr" / "local" / "bin" / "salt-call").readlink() == prefix / "bin" / "salt-call"

    again = _run(*args)
    assert again.returncode == 0, again.stderr
    assert "salt 3008.4 already installed" in again.stdout


def _wheelhouse(tmp_path, package=None):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    _stand_in_salt_wheel(wheelhouse, package=package)
    return wheelhouse


@pytest.mark.parametrize("cache_moved", [False, True])
def test_extension_modules_go_where_a_sync_writes_them(tmp_path, upload, cache_moved):
    """The master's modules that came along land in the minion's default
    extension_modules, each kind replacing the minion's copy as a sync would and other
    kinds left alone; where the minion config moves its cache, the orchestration's
    refresh step syncs them instead."""
    (upload / "extmods" / "utils").mkdir(parents=True)
    (upload / "extmods" / "utils" / "vent_model.py").write_text("ROLES = ()\n")
    if cache_moved:
        with open(upload / "minion", "a") as fh:
            fh.write("cachedir: /srv/salt-cache\n")
    root = tmp_path / "root"
    extmods = root / "var" / "cache" / "salt" / "minion" / "extmods"
    for before in ("utils/gone.py", "grains/site.py"):  # from a deploy or sync before
        (extmods / before).parent.mkdir(parents=True)
        (extmods / before).write_text("")
    proc = _run("-c", str(upload), "-w", str(_wheelhouse(tmp_path)), "-p", str(tmp_path / "venv"),
                "-r", str(root), "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = sorted(str(p.relative_to(extmods)) for p in extmods.rglob("*") if p.is_file())
    if cache_moved:
        assert written == ["grains/site.py", "utils/gone.py"]
        assert "the orchestration syncs the extension modules" in proc.stdout
    else:
        assert written == ["grains/site.py", "utils/vent_model.py"]
        assert (extmods / "utils" / "vent_model.py").read_text() == "ROLES = ()\n"


# The Salt 3008.4 files the script carries a fix into: {file in salt/: (the script's
# name for its sha256 constants, what its messages call the fix, the upstream report)}.
CARRIED_FIXES = {
    "crypt.py": ("CRYPT", "key-load fix", "salt-crypt-private-key-validation.md"),
    "utils/optsdict.py": ("OPTSDICT", "opts-copy fix", "salt-optsdict-parent-len.md"),
    "modules/systemd_service.py": ("SYSTEMD_SERVICE", "systemctl-status fix",
                                   "salt-systemd-status-repeated.md"),
}


def _carry_constant(name: str) -> str:
    """A sha256 the script's fixes name (<FILE>_RELEASED: Salt's own file;
    <FILE>_CARRIED: with the fix)."""
    return SCRIPT.read_text().split(f'\n{name} = "', 1)[1].split('"', 1)[0]


def _released(name: str) -> str:
    """salt/<name> of the Salt this checkout pins (requirements.lock), the release the
    script's fix was written for."""
    import salt

    text = (Path(salt.__file__).parent / name).read_text(encoding="utf-8")
    constant, _, report = CARRIED_FIXES[name]
    assert hashlib.sha256(text.encode()).hexdigest() == _carry_constant(f"{constant}_RELEASED"), (
        f"the pinned Salt's {name} is not the one vent-minion.sh's fix was written for: "
        f"look at docs/upstream/{report} again")
    return text


def _installed(prefix: Path, name: str) -> Path:
    return next(prefix.glob(f"lib/python3*/site-packages/salt/{name}"))


def _package(files: dict) -> dict:
    return {"__init__.py": "", "utils/__init__.py": "", "modules/__init__.py": "", **files}


@pytest.fixture(scope="module")
def carried_salt(tmp_path_factory):
    """The stand-in wheel's salt/ as a deploy leaves it: the script run offline with
    the pinned release's files that carry a fix."""
    tmp = tmp_path_factory.mktemp("carry")
    src = tmp / "saltcloud"
    src.mkdir()
    prefix = tmp / "venv"
    wheelhouse = _wheelhouse(tmp, _package({name: _released(name) for name in CARRIED_FIXES}))
    args = ["-c", str(src), "-w", str(wheelhouse), "-p", str(prefix), "-r", str(tmp / "root"), "-n"]
    proc = _run(*args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return prefix, proc, args


@pytest.mark.parametrize("name", CARRIED_FIXES)
def test_salt_3008_4_gets_each_fix_once(carried_salt, name):
    prefix, first, args = carried_salt
    path = _installed(prefix, name)
    constant, what, _ = CARRIED_FIXES[name]
    assert f"carried the {what} into {path}" in first.stdout
    assert hashlib.sha256(path.read_bytes()).hexdigest() == _carry_constant(f"{constant}_CARRIED")
    mtime = path.stat().st_mtime_ns
    again = _run(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert " fix" not in again.stdout + again.stderr
    assert path.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("name", CARRIED_FIXES)
def test_another_salts_file_is_left_as_it_is(tmp_path, upload, name):
    other = _released(name) + "# the site's own change\n"
    prefix = tmp_path / "venv"
    wheelhouse = _wheelhouse(tmp_path, _package({name: other}))
    proc = _run("-c", str(upload), "-w", str(wheelhouse), "-p", str(prefix),
                "-r", str(tmp_path / "root"), "-n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    what = CARRIED_FIXES[name][1]
    assert f"is not Salt 3008.4's: the {what} is not carried" in proc.stderr
    assert _installed(prefix, name).read_text(encoding="utf-8") == other
    missing = next(n for n in CARRIED_FIXES if n != name)
    assert f"no salt/{missing} in {prefix}: the {CARRIED_FIXES[missing][1]} is not carried" in proc.stdout


def _module_from(path: Path):
    """A Python file loaded as a module of its own, on this checkout's Salt."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"vent_test_module_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_minion_key(pki_dir: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(65537, 2048)
    (pki_dir / "minion.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                                           serialization.NoEncryption()))
    (pki_dir / "minion.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key.public_key().public_numbers()


@pytest.mark.parametrize("fixed", [True, False], ids=["with the fix", "Salt as released"])
def test_each_request_channels_auth_loads_the_minion_key_only_when_it_is_new(
        carried_salt, tmp_path, monkeypatch, fixed):
    """A job opens a request channel, with an event loop and so an AsyncAuth of its
    own, for each file-client, pillar, mine or publish request. With the fix the
    process loads (and cryptography validates) the minion's key once, and again only
    when the key file holds another key; as released, every AsyncAuth loads it."""
    import salt.config
    import salt.crypt as released
    import tornado.ioloop
    from cryptography.hazmat.primitives import serialization

    crypt = _module_from(_installed(carried_salt[0], "crypt.py") if fixed else Path(released.__file__))
    loads = []
    load = serialization.load_pem_private_key
    monkeypatch.setattr(serialization, "load_pem_private_key",
                        lambda *args, **kwargs: loads.append(1) or load(*args, **kwargs))
    opts = salt.config.minion_config(None)
    opts.update(pki_dir=str(tmp_path), id="worker-0", master_uri="tcp://127.0.0.1:4506")
    first = _write_minion_key(tmp_path)

    def channel_key():
        loop = tornado.ioloop.IOLoop(make_current=False)
        try:
            return crypt.AsyncAuth(opts, io_loop=loop).get_keys().key.public_key().public_numbers()
        finally:
            loop.close()

    assert [channel_key() for _ in range(3)] == [first] * 3
    assert len(loads) == (1 if fixed else 3)
    second = _write_minion_key(tmp_path)
    assert channel_key() == second
    assert len(loads) == (2 if fixed else 4)


@pytest.mark.parametrize("fixed", [True, False], ids=["with the fix", "Salt as released"])
def test_a_loaders_opts_copy_does_not_count_its_parents_keys(carried_salt, fixed):
    """Each module a loader loads gets a child of the loader's opts. With the fix the
    child asks only whether it has a parent; as released it counts the parent's keys,
    each looked up through the whole parent chain. Either way the child sees the
    parent's keys and shares its mutation tracker."""
    import salt.utils.optsdict as released

    optsdict = _module_from(_installed(carried_salt[0], "utils/optsdict.py") if fixed
                            else Path(released.__file__))
    counted = []

    class CountingOptsDict(optsdict.OptsDict):
        def __len__(self):
            counted.append(self._name)
            return super().__len__()

    root = CountingOptsDict.from_dict({"id": "worker-0", "grains": {"os": "Debian"}}, name="minion")
    loader = CountingOptsDict.from_parent(root, name="loader:states")
    counted.clear()
    module_opts = optsdict.safe_opts_copy(loader, name="loader:states:file")
    assert counted == ([] if fixed else ["loader:states"])
    assert module_opts["id"] == "worker-0"
    assert module_opts["grains"]["os"] == "Debian"
    assert module_opts._tracker is root._tracker


class FakeSystemctl:
    """What ``cmd.run_all`` answers for ``systemctl status`` of one unit, as systemd 252
    does: 4 and "could not be found" for a unit it has not loaded, 0 for a loaded one.
    A daemon-reload loads the unit file on disk."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.calls = []

    def __call__(self, cmd, **kwargs):
        self.calls.append(cmd)  # [path of systemctl or None where it is not installed, ...]
        if "daemon-reload" in cmd:
            self.loaded = True
            return {"retcode": 0, "stdout": "", "stderr": ""}
        if self.loaded:
            return {"retcode": 0, "stdout": "* demo.service\n     Loaded: loaded", "stderr": ""}
        return {"retcode": 4, "stdout": "Unit demo.service could not be found.", "stderr": ""}

    def count(self, action):
        return sum(action in call[1:] for call in self.calls)


@pytest.mark.parametrize("fixed", [True, False], ids=["with the fix", "Salt as released"])
@pytest.mark.parametrize("loaded", [True, False], ids=["unit loaded", "unit file new on disk"])
def test_service_available_asks_systemctl_status_once_unless_it_reloaded(
        carried_salt, tmp_path, monkeypatch, fixed, loaded):
    """service.available (which service.running asks first) checks for unit changes and
    then for the unit. With the fix one `systemctl status` answers all of it; as
    released it ran three. A unit file systemd has not loaded yet is still found: after
    the daemon-reload the check asks systemd again rather than trust the answer from
    before it."""
    import salt.modules.systemd_service as released

    service = _module_from(_installed(carried_salt[0], "modules/systemd_service.py") if fixed
                           else Path(released.__file__))
    systemctl = FakeSystemctl(loaded)
    unit_dir = tmp_path / "etc" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    (unit_dir / "demo.service").write_text("[Service]\nExecStart=/bin/true\n")
    monkeypatch.setattr(service, "_root", lambda path, root: str(tmp_path) + path)
    service.__salt__ = {"cmd.run_all": systemctl, "config.get": lambda key, default=None: default}
    service.__context__ = {"salt.utils.systemd.offline": False, "salt.utils.systemd.version": 252}

    assert service.available("demo") is True
    assert systemctl.count("daemon-reload") == (0 if loaded else 1)
    assert systemctl.count("status") == {(True, True): 1, (True, False): 2,
                                         (False, True): 3, (False, False): 2}[(fixed, loaded)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-w", "/nonexistent/wheels"], "is not a directory"),
        (["-v", "latest"], "is not a version number"),
        (["-p", "relative/venv"], "must be an absolute path"),
        (["stray"], "unexpected arguments"),
    ],
)
def test_bad_arguments_are_refused_before_touching_the_machine(tmp_path, args, message):
    proc = _run(*args, "-r", str(tmp_path / "root"), "-n")
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not (tmp_path / "root").exists()


def test_script_survives_salt_clouds_jinja_rendering():
    """salt-cloud renders deploy scripts with Jinja before upload."""
    from jinja2 import Template

    text = SCRIPT.read_text()
    assert Template(text).render(opts={}, vm={}, minion="").strip() == text.strip()
