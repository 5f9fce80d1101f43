"""The etcd formula on three salt-factories minions, then a real 3-member etcd cluster.

Each minion renders its own etcd.conf.yml (pillar points every path at a per-minion
directory: the minions share the host's filesystem). Three network namespaces on a
bridge stand in for the nodes' private network; Debian's etcd runs in each one as the
`etcd` user with the file the formula rendered, exactly as the unit would start it.
Certificates come from a test-only CA (pki_for_tests, `cryptography`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pki_for_tests as pki_
import pytest
import yaml
from conftest import REPO, master_overrides, minion_overrides, pillar_dir, settings
from cryptography.x509.oid import ExtendedKeyUsageOID

from ventlab import saltconfig
from ventlab.model import model

pytestmark = pytest.mark.salt


ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"
BRIDGE = "vetcdbr"
# Lab private addresses; the host side of the bridge takes a /28 so its route covers
# only these test addresses, not the lab's whole /24.
MEMBERS = {
    f"etcd-t{i}": {"ns": f"vetcd{i}", "private": f"100.72.0.{211 + i}", "public": f"198.18.0.{211 + i}"}
    for i in range(3)
}
# Added to the running cluster by `salt-run vent.etcd_member_add`.
JOINER = {"etcd-t3": {"ns": "vetcd3", "private": "100.72.0.214", "public": "198.18.0.214"}}
ALL = {**MEMBERS, **JOINER}
HOST_ADDR = "100.72.0.222/28"
HEALTH_TIMEOUT = 8

needs_etcd = pytest.mark.skipif(
    not (os.path.exists(ETCD) and os.path.exists(ETCDCTL) and shutil.which("ip") and os.geteuid() == 0),
    reason="needs root, iproute2 and Debian's etcd-server/etcd-client (requirements.apt)",
)


def sh(*argv, check=True, timeout=30):
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


# --- test-only PKI (pki_for_tests) -------------------------------------------------


TEST_CA: list = []


def make_test_pki(base: Path, members=None):
    """etcd-ca.crt, etcd-server, etcd-peer (owned by etcd) and apiserver-etcd-client per
    member."""
    if not TEST_CA:
        TEST_CA.extend(pki_.cert("vent-etcd-test-only-ca", None, None, is_ca=True))
    ca_cert, ca_key = TEST_CA
    server, client = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
    for minion, m in (members or MEMBERS).items():
        pki = base / minion / "pki"
        pki.mkdir(parents=True)
        pki.chmod(0o755)
        pki_.write_cert(pki / "etcd-ca.crt", ca_cert)
        ips = (m["private"], "127.0.0.1")
        for name, usages, owner in (
            ("etcd-server", (server, client), "etcd"),
            ("etcd-peer", (server, client), "etcd"),
            ("apiserver-etcd-client", (client,), None),
        ):
            cert, key = pki_.cert(minion if name != "apiserver-etcd-client" else name,
                                  ca_cert, ca_key, ips if owner else (), usages)
            pki_.write_cert(pki / f"{name}.crt", cert)
            pki_.write_key(pki / f"{name}.key", key, owner)


# --- the private network -----------------------------------------------------------


def net_down():
    for m in ALL.values():
        sh("ip", "netns", "del", m["ns"], check=False)
    sh("ip", "link", "del", BRIDGE, check=False)


def net_up():
    net_down()
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", HOST_ADDR, "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")
    for m in MEMBERS.values():
        ns_up(m)


def ns_up(m):
    ns, host_if, ns_if = m["ns"], m["ns"] + "h", m["ns"] + "n"
    sh("ip", "netns", "add", ns)
    sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if, "netns", ns)
    sh("ip", "link", "set", host_if, "master", BRIDGE, "up")
    nsx = ("ip", "netns", "exec", ns, "ip")
    sh(*nsx, "addr", "add", m["private"] + "/24", "dev", ns_if)
    # The node's public address: etcd must not listen on it.
    sh(*nsx, "addr", "add", m["public"] + "/24", "dev", ns_if)
    sh(*nsx, "link", "set", ns_if, "up")
    sh(*nsx, "link", "set", "lo", "up")


# --- fixtures ----------------------------------------------------------------------


# The module's scratch dir, for helpers that are not fixtures.
BASE: list[Path] = []


@pytest.fixture(scope="module")
def base():
    path = Path(tempfile.mkdtemp(prefix="vent-etcd-test-"))
    path.chmod(0o755)  # the etcd user must reach its files below
    BASE[:] = [path]
    yield path
    shutil.rmtree(path, ignore_errors=True)


SITE = """\
vent:
  pki:
    dir: {base}/{{{{ opts['id'] }}}}/pki
  etcd:
    install: package
    config_dir: {base}/{{{{ opts['id'] }}}}/etc
    data_dir: {base}/{{{{ opts['id'] }}}}/data
    health_timeout: {timeout}
  kubernetes:
    dirs:
      systemd: {base}/{{{{ opts['id'] }}}}/systemd
"""


@pytest.fixture(scope="module")
def salt_env(salt_factories, base, tmp_path_factory):
    pillar = pillar_dir(tmp_path_factory.mktemp("etcd"), site=SITE.format(base=base, timeout=HEALTH_TIMEOUT))
    overrides = master_overrides(pillar)
    overrides["file_recv"] = True
    master = salt_factories.salt_master_daemon("etcd-master", overrides=overrides)
    with master.started():
        minions = {}
        for minion, m in MEMBERS.items():
            conf = minion_overrides(["controller"], {"private_ip": m["private"], "public_ip": m["public"]},
                                    host=minion)
            conf.update(saltconfig.extension_dirs(REPO))
            minions[minion] = master.salt_minion_daemon(minion, overrides=conf)
        started = [mn.started() for mn in minions.values()]
        for ctx in started:
            ctx.__enter__()
        try:
            for mn in minions.values():
                ret = mn.salt_call_cli().run("mine.update")
                assert ret.returncode == 0, ret
            yield master, minions
        finally:
            for ctx in reversed(started):
                ctx.__exit__(None, None, None)


def apply(minion, sls, **kwargs):
    ret = minion.salt_call_cli(timeout=180).run("state.apply", sls, **kwargs)
    failed = {k: v["comment"] for k, v in (ret.data or {}).items()
              if isinstance(v, dict) and v.get("result") is False}
    assert ret.returncode == 0, failed or (ret.stdout + ret.stderr)
    return ret.data


def changed(state_ret):
    return {k: v["changes"] for k, v in state_ret.items() if v["changes"]}


@pytest.fixture(scope="module")
def rendered(salt_env, base):
    _, minions = salt_env
    # The formula creates the etcd user; the certificates it owns come after.
    apply(minions["etcd-t0"], "etcd.package.user")
    make_test_pki(base)
    return {minion: apply(mn, "etcd.config,etcd.service.unit") for minion, mn in minions.items()}


def config(base, minion):
    return yaml.safe_load((base / minion / "etc" / "etcd.conf.yml").read_text())


# --- (a) what the states render ----------------------------------------------------


def test_config_listens_on_private_ip_and_loopback_only_with_tls(rendered, base):
    for minion, m in MEMBERS.items():
        conf = config(base, minion)
        assert conf["name"] == minion
        assert conf["listen-client-urls"].split(",") == [
            f"https://{m['private']}:2379", "https://127.0.0.1:2379"
        ]
        assert conf["listen-peer-urls"] == f"https://{m['private']}:2380"
        assert conf["advertise-client-urls"] == f"https://{m['private']}:2379"
        assert m["public"] not in yaml.safe_dump(conf)
        pki = base / minion / "pki"
        for section, prefix in (("client-transport-security", "etcd-server"),
                                ("peer-transport-security", "etcd-peer")):
            tls = conf[section]
            assert tls["client-cert-auth"] is True and tls["auto-tls"] is False
            assert tls["cert-file"] == str(pki / f"{prefix}.crt")
            assert tls["key-file"] == str(pki / f"{prefix}.key")
            assert tls["trusted-ca-file"] == str(pki / "etcd-ca.crt")


def test_initial_cluster_comes_from_the_mine(rendered, base):
    expected = ",".join(f"{n}=https://{m['private']}:2380" for n, m in sorted(MEMBERS.items()))
    for minion in MEMBERS:
        conf = config(base, minion)
        assert conf["initial-cluster"] == expected
        assert conf["initial-cluster-state"] == "new"


def test_data_dir_is_private_to_etcd(rendered, base):
    for minion in MEMBERS:
        st = (base / minion / "data").stat()
        assert oct(st.st_mode & 0o777) == "0o700"
        assert (st.st_uid, st.st_gid) == (_uid("etcd"), _gid("etcd"))
        conf_st = (base / minion / "etc" / "etcd.conf.yml").stat()
        assert oct(conf_st.st_mode & 0o777) == "0o640"


def test_unit_runs_debians_binary_as_etcd_with_restart(rendered, base):
    unit = (base / "etcd-t0" / "systemd" / "etcd.service").read_text()
    assert f"ExecStart=/usr/bin/etcd --config-file {base}/etcd-t0/etc/etcd.conf.yml" in unit
    assert "User=etcd" in unit and "Restart=on-failure" in unit and "Type=notify" in unit


def test_second_apply_changes_nothing(rendered, salt_env):
    _, minions = salt_env
    for mn in minions.values():
        assert changed(apply(mn, "etcd.config,etcd.service.unit")) == {}


def test_release_install_without_mirror_names_the_artifact(rendered, salt_env, tmp_path):
    _, minions = salt_env
    pillar = {"vent": {"etcd": {"install": "release"},
                       "artifacts": {"mirror": str(tmp_path / "mirror"), "allow_download": False,
                                     "unpack_root": str(tmp_path / "opt")}}}
    ret = minions["etcd-t0"].salt_call_cli(timeout=120).run(
        "state.apply", "etcd.package.install", pillar=pillar
    )
    assert ret.returncode != 0
    failed = [v["comment"] for v in ret.data.values() if v["result"] is False]
    assert any("vent:artifacts:releases:etcd" in c and str(tmp_path / "mirror") in c for c in failed), failed


def test_release_tarball_with_wrong_checksum_is_refused(rendered, salt_env, tmp_path):
    _, minions = salt_env
    mirror = tmp_path / "mirror"
    art = model.artifact(settings({"artifacts": {"mirror": str(mirror)}}), "etcd", "etcd", "amd64")
    path = Path(art["mirror"])
    path.parent.mkdir(parents=True)
    # Laid out like the real tarball, with a fake binary: only the checksum differs.
    fake = tmp_path / "src" / f"etcd-v{art['version']}-linux-amd64"
    fake.mkdir(parents=True)
    for name in ("etcd", "etcdctl", "etcdutl"):
        (fake / name).write_text("#!/bin/sh\necho not etcd\n")
    sh("tar", "-czf", str(path), "-C", str(fake.parent), fake.name)
    pillar = {"vent": {"etcd": {"install": "release"},
                       "kubernetes": {"dirs": {"bin": str(tmp_path / "bin")}},
                       "artifacts": {"mirror": str(mirror), "allow_download": False,
                                     "unpack_root": str(tmp_path / "opt")}}}
    ret = minions["etcd-t0"].salt_call_cli(timeout=120).run(
        "state.apply", "etcd.package.install", pillar=pillar
    )
    assert ret.returncode != 0
    failed = [v["comment"] for v in ret.data.values() if v["result"] is False]
    assert any("hash" in c.lower() for c in failed), failed
    assert not (tmp_path / "opt").exists() or not any((tmp_path / "opt").rglob("etcd"))
    assert not (tmp_path / "bin" / "etcd").exists()


def _uid(user):
    import pwd

    return pwd.getpwnam(user).pw_uid


def _gid(group):
    import grp

    return grp.getgrnam(group).gr_gid


# --- (b) a real cluster from the rendered files -------------------------------------


def start_etcd(base, minion):
    """etcd as the unit starts it: user etcd, only --config-file, in the node's namespace."""
    log = open(base / f"{minion}.log", "wb")  # noqa: SIM115 (closed in teardown)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", ALL[minion]["ns"], "setpriv", "--reuid=etcd", "--regid=etcd",
         "--init-groups", ETCD, "--config-file", str(base / minion / "etc" / "etcd.conf.yml")],
        stdout=log, stderr=subprocess.STDOUT,
    )
    proc.log = log
    return proc


@pytest.fixture(scope="module")
def cluster(rendered, base):
    net_up()
    procs = {}
    try:
        for minion in MEMBERS:
            procs[minion] = start_etcd(base, minion)
        yield procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=5)
            p.log.close()
        net_down()


def etcdctl(minion, *args, cert=True, endpoint=None, check=True):
    m = ALL[minion]
    pki = BASE[0] / minion / "pki"
    tls = [f"--cacert={pki / 'etcd-ca.crt'}"]
    if cert:
        tls += [f"--cert={pki / 'apiserver-etcd-client.crt'}", f"--key={pki / 'apiserver-etcd-client.key'}"]
    return sh("ip", "netns", "exec", m["ns"], ETCDCTL,
              f"--endpoints={endpoint or 'https://' + m['private'] + ':2379'}",
              "--dial-timeout=3s", "--command-timeout=5s", *tls, *args, check=check)


@pytest.fixture(scope="module")
def healthy(cluster, salt_env, base):
    _, minions = salt_env
    started = time.monotonic()
    ret = minions["etcd-t0"].salt_call_cli(timeout=120).run("vent_etcd.wait_healthy", timeout=60)
    logs = {n: (base / f"{n}.log").read_text()[-2000:] for n in MEMBERS}
    assert ret.returncode == 0, (ret.stdout, ret.stderr, logs)
    print(f"etcd cluster healthy {time.monotonic() - started:.1f}s after start")
    return ret.data


@needs_etcd
def test_cluster_is_healthy_over_tls(healthy):
    assert sorted(healthy["healthy"]) == sorted(MEMBERS)
    out = etcdctl("etcd-t1", "member", "list").stdout
    for minion, m in MEMBERS.items():
        assert f"{minion}, https://{m['private']}:2380" in out


def health_state(minion, timeout):
    """The etcd formula's last state (etcd.health) on its own, as a state run reports it."""
    ret = minion.salt_call_cli(timeout=120).run("state.single", "vent_etcd.healthy",
                                                 "etcd cluster", timeout=timeout)
    return next(iter(ret.data.values()))


@needs_etcd
def test_health_state_passes_on_every_member_without_changes(healthy, salt_env):
    _, minions = salt_env
    for name in MEMBERS:
        state = health_state(minions[name], 30)
        assert state["result"] is True, state
        assert state["changes"] == {}
        assert all(m in state["comment"] for m in MEMBERS), state["comment"]


@needs_etcd
def test_key_written_on_one_member_is_read_on_another(healthy):
    etcdctl("etcd-t0", "put", "/vent/test", "written-on-t0")
    out = etcdctl("etcd-t2", "get", "/vent/test", "--print-value-only").stdout.strip()
    assert out == "written-on-t0"


@needs_etcd
def test_client_without_certificate_is_refused(healthy):
    proc = etcdctl("etcd-t1", "get", "/vent/test", cert=False, check=False)
    assert proc.returncode != 0
    assert "written-on-t0" not in proc.stdout
    # Loopback too, and with a certificate it works there.
    assert etcdctl("etcd-t1", "endpoint", "health", endpoint="https://127.0.0.1:2379").returncode == 0
    proc = etcdctl("etcd-t1", "get", "/", cert=False, check=False, endpoint="https://127.0.0.1:2379")
    assert proc.returncode != 0


@needs_etcd
def test_nothing_listens_on_a_non_private_address(healthy):
    for minion, m in MEMBERS.items():
        out = sh("ip", "netns", "exec", m["ns"], "ss", "-ltnH").stdout
        local = sorted({line.split()[3] for line in out.splitlines() if line.strip()})
        assert local, f"{minion}: nothing listening"
        hosts = {addr.rsplit(":", 1)[0] for addr in local}
        assert hosts <= {m["private"], "127.0.0.1"}, (minion, local)
        assert f"{m['private']}:2379" in local and f"{m['private']}:2380" in local


@needs_etcd
def test_snapshot_is_saved_to_the_master(healthy, salt_env, tmp_path):
    master, _ = salt_env
    dest = tmp_path / "snap.db"
    ret = master.salt_run_cli(timeout=180).run("vent.etcd_snapshot", f"dest={dest}")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert dest.stat().st_size > 0 and oct(dest.stat().st_mode & 0o777) == "0o600"
    status = sh(ETCDCTL, "snapshot", "status", str(dest), "-w", "json").stdout
    assert '"totalKey"' in status


@needs_etcd
def test_member_add_joins_a_fourth_member(healthy, cluster, salt_env, base):
    master, minions = salt_env
    name, m = next(iter(JOINER.items()))
    ns_up(m)
    make_test_pki(base, JOINER)
    conf = minion_overrides(["controller"], {"private_ip": m["private"], "public_ip": m["public"]}, host=name)
    conf.update(saltconfig.extension_dirs(REPO))
    joiner = master.salt_minion_daemon(name, overrides=conf)
    with joiner.started():
        assert joiner.salt_call_cli().run("mine.update").returncode == 0
        ret = master.salt_run_cli(timeout=120).run("vent.etcd_member_add", name)
        assert ret.returncode == 0, ret.stdout + ret.stderr
        apply(joiner, "etcd.config,etcd.service.unit")
        conf = config(base, name)
        assert conf["initial-cluster-state"] == "existing"
        assert conf["initial-cluster"].count("=https://") == 4
        cluster[name] = start_etcd(base, name)
        ret = minions["etcd-t0"].salt_call_cli(timeout=120).run("vent_etcd.wait_healthy", timeout=60)
        assert ret.returncode == 0, (ret.stdout, ret.stderr, (base / f"{name}.log").read_text()[-2000:])
        assert sorted(ret.data["healthy"]) == sorted(ALL)
        assert etcdctl(name, "get", "/vent/test", "--print-value-only").stdout.strip() == "written-on-t0"
        # The running members keep the configuration they bootstrapped with.
        for mn in minions.values():
            assert changed(apply(mn, "etcd.config,etcd.service.unit")) == {}


@needs_etcd
def test_stopped_member_is_named_within_the_timeout(healthy, cluster, salt_env):
    _, minions = salt_env
    cluster["etcd-t2"].terminate()
    cluster["etcd-t2"].wait(timeout=15)
    started = time.monotonic()
    ret = minions["etcd-t0"].salt_call_cli(timeout=120).run("vent_etcd.wait_healthy", timeout=HEALTH_TIMEOUT)
    elapsed = time.monotonic() - started
    text = ret.stdout + ret.stderr
    assert ret.returncode != 0
    assert "etcd-t2" in text and "https://100.72.0.213:2379" in text
    assert all(f"{n} (" not in text for n in ALL if n != "etcd-t2"), text
    # salt-call start-up included; the check itself is bounded by HEALTH_TIMEOUT.
    assert elapsed < HEALTH_TIMEOUT + 15, elapsed
    print(f"stopped member reported after {elapsed:.1f}s (timeout {HEALTH_TIMEOUT}s)")
    # The formula's health state fails the run with the same words.
    state = health_state(minions["etcd-t1"], HEALTH_TIMEOUT)
    assert state["result"] is False and state["changes"] == {}
    assert "etcd-t2" in state["comment"] and "https://100.72.0.213:2379" in state["comment"], state
