"""The PKI formula end to end: a master, a CA minion, a controller and a worker on
loopback; every certificate remotely signed, then checked with ``cryptography``."""

from __future__ import annotations

import datetime
import os
import stat
import time
from pathlib import Path

import pytest
import yaml
from conftest import master_overrides, minion_overrides, pillar_dir
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

pytestmark = [pytest.mark.salt]

ENC_KEY = "Z2Q0c0p5ZUtMZ1hVcXJ5TnFNVm5aUWJiV3B2b2RFQ2o="
CA_ID, CTL_ID, WRK_ID = "pki-ca", "controller-0", "worker-0"
ADDR = {
    CA_ID: {"private_ip": "100.72.0.9", "public_ip": "198.18.0.9"},
    CTL_ID: {"private_ip": "100.72.0.2", "public_ip": "198.18.0.2"},
    WRK_ID: {"private_ip": "100.72.0.3", "public_ip": "198.18.0.3"},
}
ROLES = {CA_ID: [], CTL_ID: ["controller"], WRK_ID: ["worker"]}

# Per-minion paths (the minions share this host's filesystem). The worker keeps the
# default key size (rsa 4096) so the default is exercised once; the rest use 2048.
SITE = """\
vent:
  pki:
    dir: {base}/{{{{ opts.id }}}}/pki
    kubeconfig_dir: {base}/{{{{ opts.id }}}}/kubeconfig
{{%- if opts.id == "{wrk}" %}}
    days_remaining: {wrk_days_remaining}
{{%- else %}}
    key: {{algorithm: rsa, size: 2048}}
{{%- endif %}}
    front_proxy: true
  encryption:
    config_file: {base}/{{{{ opts.id }}}}/encryption-config.yaml
"""


def _site(base, wrk_days_remaining=30):
    return SITE.format(base=base, wrk=WRK_ID, wrk_days_remaining=wrk_days_remaining)


class Lab:
    def __init__(self, base, pillar, master, minions):
        self.base, self.pillar, self.master, self.minions = base, pillar, master, minions

    def pki_dir(self, mid):
        return self.base / mid / "pki"

    def call(self, mid, *args, **kw):
        return self.minions[mid].salt_call_cli(timeout=240).run(*args, **kw)

    def apply(self, mid, sls="pki", **kw):
        ret = self.call(mid, "state.apply", sls, **kw)
        return ret

    def on(self, targets, *args):
        """``args`` run on the minions ``targets`` in one job: {minion: its return}."""
        targets = list(targets)
        ret = self.master.salt_cli(timeout=240).run("-L", *args, minion_tgt=",".join(targets))
        # salt-factories unwraps the return of a job whose target names one minion.
        data = {targets[0]: ret.data} if len(targets) == 1 else ret.data
        assert isinstance(data, dict) and set(data) == set(targets), ret
        return data

    def on_all(self, *args):
        for mid, value in self.on(self.minions, *args).items():
            assert value not in (False, None) and not isinstance(value, str), (mid, args, value)

    def refresh_pillar(self):
        self.on_all("saltutil.refresh_pillar", "wait=True")

    def set_site(self, **kw):
        (self.pillar / "site.sls").write_text(_site(self.base, **kw))
        self.refresh_pillar()


def _changed(ret):
    return sorted(k for k, v in ret.data.items() if v.get("changes"))


def _reissued(ret):
    """x509 states that changed (each also reports its file.managed sub-state)."""
    return [k for k in _changed(ret) if k.startswith("x509_|-")]


def _changes(ret):
    return {k: v["changes"] for k, v in ret.data.items() if v.get("changes")}


def _failed_states(states):
    return {k: v["comment"] for k, v in states.items() if not v.get("result")}


def _failed(ret):
    if not isinstance(ret.data, dict):
        return ret.stdout + ret.stderr
    return _failed_states(ret.data)


@pytest.fixture(scope="module")
def lab(tmp_path_factory, salt_factories):
    base = tmp_path_factory.mktemp("pki")
    pillar = pillar_dir(
        base, site=_site(base),
        secrets={"encryption": f"vent:\n  encryption:\n    key: {ENC_KEY}\n"},
    )
    master = salt_factories.salt_master_daemon("pki-master", overrides=master_overrides(pillar, CA_ID))
    with master.started(start_timeout=120):
        minions = {}
        for mid in (CA_ID, CTL_ID, WRK_ID):
            # The worker's addresses change in a test: set them as grains, which
            # grains.setval can replace, not in the config, which would win.
            over = minion_overrides(roles=ROLES[mid],
                                    vent_grains=None if mid == WRK_ID else ADDR[mid], host=mid)
            minions[mid] = master.salt_minion_daemon(mid, overrides=over)
        started = [m.started(start_timeout=120) for m in minions.values()]
        for cm in started:
            cm.__enter__()
        try:
            lab = Lab(base, pillar, master, minions)
            ret = master.salt_run_cli(timeout=120).run("vent.ca_init", f"ca_minion={CA_ID}")
            assert ret.returncode == 0, ret
            assert lab.call(WRK_ID, "grains.setval", "vent", ADDR[WRK_ID]).returncode == 0
            lab.on_all("saltutil.sync_all")
            lab.refresh_pillar()
            lab.on_all("mine.update")
            # The CA's own certificates first, as the orchestration does; then the others
            # in one job.
            for targets in ([CA_ID], [CTL_ID, WRK_ID]):
                for mid, states in lab.on(targets, "state.apply", "pki").items():
                    assert isinstance(states, dict), (mid, states)
                    assert all(s["result"] for s in states.values()), (mid, _failed_states(states))
            yield lab
        finally:
            for cm in reversed(started):
                cm.__exit__(None, None, None)


def _cert(path):
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _ca(lab):
    return _cert(lab.pki_dir(WRK_ID) / "ca.crt")


ETCD_SIGNED = ("etcd-server", "etcd-peer", "apiserver-etcd-client")


def _issuer(lab, node, name):
    if name.startswith("front-proxy-"):
        return _cert(lab.pki_dir(node) / "front-proxy-ca.crt")
    if name in ETCD_SIGNED:
        return _cert(lab.pki_dir(node) / "etcd-ca.crt")
    return _ca(lab)


def _names(cert, oid):
    return [a.value for a in cert.subject.get_attributes_for_oid(oid)]


def _sans(cert):
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in ext.get_values_for_type(x509.IPAddress)} | set(
        ext.get_values_for_type(x509.DNSName)
    )


def _ekus(cert):
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH

# node -> file -> (CN, O, EKUs, SANs or None, owner)
EXPECTED = {
    CTL_ID: {
        "etcd-server": (CTL_ID, None, {SERVER, CLIENT},
                        {CTL_ID, "100.72.0.2", "127.0.0.1"}, "etcd"),
        "etcd-peer": (CTL_ID, None, {SERVER, CLIENT}, {CTL_ID, "100.72.0.2", "127.0.0.1"}, "etcd"),
        "apiserver": ("kube-apiserver", None, {SERVER}, {
            "100.72.0.2", "198.18.0.2", "127.0.0.1", "100.64.0.1", "kubernetes",
            "kubernetes.default", "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local", CTL_ID}, "kube-apiserver"),
        "apiserver-etcd-client": ("kube-apiserver-etcd-client", None, {CLIENT}, None,
                                  "kube-apiserver"),
        "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters",
                                     {CLIENT}, None, "kube-apiserver"),
        "kube-controller-manager": ("system:kube-controller-manager",
                                    "system:kube-controller-manager", {CLIENT}, None,
                                    "kube-controller-manager"),
        "kube-scheduler": ("system:kube-scheduler", "system:kube-scheduler", {CLIENT}, None,
                           "kube-scheduler"),
        "admin": ("admin", "system:masters", {CLIENT}, None, "root"),
        # Signed by the front-proxy CA, not the cluster CA (vent:pki:front_proxy).
        "front-proxy-client": ("front-proxy-client", None, {CLIENT}, None, "kube-apiserver"),
    },
    WRK_ID: {
        "kubelet": (f"system:node:{WRK_ID}", "system:nodes", {CLIENT},
                    {WRK_ID, "100.72.0.3", "198.18.0.3"}, "root"),
        "kubelet-serving": (f"system:node:{WRK_ID}", "system:nodes", {SERVER},
                            {WRK_ID, "100.72.0.3", "198.18.0.3"}, "root"),
        "kube-proxy": ("system:kube-proxy", "system:node-proxier", {CLIENT}, None, "root"),
    },
}
CASES = [(node, name) for node, certs in EXPECTED.items() for name in certs]


@pytest.mark.parametrize(("node", "name"), CASES)
def test_certificate_is_signed_by_the_ca_with_its_subject_and_usage(lab, node, name):
    cn, org, ekus, sans, owner = EXPECTED[node][name]
    pki = lab.pki_dir(node)
    cert, ca = _cert(pki / f"{name}.crt"), _issuer(lab, node, name)
    cert.verify_directly_issued_by(ca)
    assert _names(cert, NameOID.COMMON_NAME) == [cn]
    assert _names(cert, NameOID.ORGANIZATION_NAME) == ([org] if org else [])
    assert _ekus(cert) == ekus
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    if sans is not None:
        assert _sans(cert) == sans
    days = (cert.not_valid_after_utc - cert.not_valid_before_utc).days
    assert 364 <= days <= 366
    assert cert.not_valid_before_utc <= datetime.datetime.now(datetime.UTC)
    key = serialization.load_pem_private_key((pki / f"{name}.key").read_bytes(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    st = os.stat(pki / f"{name}.key")
    assert stat.S_IMODE(st.st_mode) == 0o600
    import pwd

    assert pwd.getpwuid(st.st_uid).pw_name == owner


def test_key_size_follows_pillar_default_4096_on_worker(lab):
    for node, size in ((WRK_ID, 4096), (CTL_ID, 2048)):
        key = _cert(lab.pki_dir(node) / ("kubelet.crt" if node == WRK_ID else "apiserver.crt"))
        assert isinstance(key.public_key(), rsa.RSAPublicKey)
        assert key.public_key().key_size == size


def test_role_decides_which_certificates_a_node_gets(lab):
    assert not (lab.pki_dir(WRK_ID) / "apiserver.key").exists()
    assert not (lab.pki_dir(WRK_ID) / "service-account.key").exists()
    assert not (lab.pki_dir(CTL_ID) / "kubelet.key").exists()  # not schedulable
    assert sorted(p.name for p in lab.pki_dir(CA_ID).iterdir()) == ["ca", "ca.crt"]


def test_a_node_gets_the_service_users_of_its_roles_only(lab):
    """A worker runs neither etcd nor the control plane: no system users for them."""
    users = {}
    for mid, states in lab.on([CTL_ID, WRK_ID], "state.apply", "pki.users").items():
        assert isinstance(states, dict) and all(s["result"] for s in states.values()), states
        users[mid] = sorted(s["name"] for sid, s in states.items() if sid.startswith("user_|-"))
    assert users == {CTL_ID: ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"],
                     WRK_ID: []}


@pytest.mark.parametrize(("policy", "cn"), [
    ("vent-admin", "admin"),                        # O=system:masters
    ("vent-apiserver-kubelet-client", None),        # O=system:masters
    ("vent-apiserver-etcd-client", None),           # all of etcd
    ("vent-etcd-peer", WRK_ID),
])
def test_a_worker_cannot_have_another_roles_certificate_signed(lab, policy, cn):
    # What root on a worker could ask for with its own minion key: the CA minion
    # refuses, asking the master whether the worker has a role that may hold it.
    key = lab.pki_dir(WRK_ID) / "kubelet.key"
    args = ["x509.create_certificate", f"ca_server={CA_ID}", f"signing_policy={policy}",
            f"private_key={key}", *([f"CN={cn}"] if cn else [])]
    ret = lab.call(WRK_ID, *args)
    assert ret.returncode != 0, ret.data
    assert "minion not permitted to use specified signing policy" in ret.stdout + ret.stderr


def test_a_controller_has_its_certificates_signed_remotely(lab):
    # The same request the worker is refused, from a node whose role may hold it.
    key = lab.pki_dir(CTL_ID) / "admin.key"
    ret = lab.call(CTL_ID, "x509.create_certificate", f"ca_server={CA_ID}",
                   "signing_policy=vent-admin", f"private_key={key}", "CN=admin")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    cert = x509.load_pem_x509_certificate(ret.data.encode())
    assert _names(cert, NameOID.ORGANIZATION_NAME) == ["system:masters"]
    cert.verify_directly_issued_by(_ca(lab))


def test_the_ca_asks_the_master_about_a_node_once_for_its_policies_and_certificates(lab):
    # salt/_modules/x509_v2.py: the master's yes is kept for a minute, a no never.
    kept = Path(lab.minions[CA_ID].config["cachedir"]) / "vent_pki" / "compound_matches.json"
    kept.unlink(missing_ok=True)
    asked = b"Publishing runner 'match.compound_matches'"

    ret, logged = _logged_during(lab, CA_ID, lambda: lab.call(
        WRK_ID, "vent_pki.fetch_signing_policies", CA_ID, '["vent-kube-proxy"]'))
    assert ret.data == {"fetched": ["vent-kube-proxy"], "left": {}}, ret
    assert logged.count(asked) == 1

    key = lab.pki_dir(WRK_ID) / "kube-proxy.key"
    for _ in range(2):
        ret, logged = _logged_during(lab, CA_ID, lambda: lab.call(
            WRK_ID, "x509.create_certificate", f"ca_server={CA_ID}",
            "signing_policy=vent-kube-proxy", f"private_key={key}"))
        assert ret.returncode == 0, ret.stdout + ret.stderr
        x509.load_pem_x509_certificate(ret.data.encode()).verify_directly_issued_by(_ca(lab))
        assert logged.count(asked) == 0

    for _ in range(2):
        ret, logged = _logged_during(lab, CA_ID, lambda: lab.call(
            WRK_ID, "x509.create_certificate", f"ca_server={CA_ID}", "signing_policy=vent-admin",
            f"private_key={key}", "CN=admin"))
        assert "minion not permitted to use specified signing policy" in ret.stdout + ret.stderr
        assert logged.count(asked) == 1


def test_front_proxy_chain_is_separate_from_the_cluster_ca(lab):
    # kube-apiserver trusts front-proxy clients through --requestheader-client-ca-file;
    # a cert from that CA must never pass as a cluster client, nor the reverse.
    pki = lab.pki_dir(CTL_ID)
    fp_ca, ca = _cert(pki / "front-proxy-ca.crt"), _ca(lab)
    assert fp_ca.subject != ca.subject
    assert fp_ca.public_key().public_numbers() != ca.public_key().public_numbers()
    mined = lab.call(CTL_ID, "mine.get", CA_ID, "vent_front_proxy_ca_cert").data[CA_ID]
    assert x509.load_pem_x509_certificate(mined.encode()) == fp_ca
    with pytest.raises((ValueError, InvalidSignature)):
        _cert(pki / "front-proxy-client.crt").verify_directly_issued_by(ca)
    with pytest.raises((ValueError, InvalidSignature)):
        _cert(pki / "admin.crt").verify_directly_issued_by(fp_ca)
    assert not list(lab.pki_dir(WRK_ID).glob("front-proxy*"))


def test_etcd_trusts_a_ca_of_its_own(lab):
    # etcd accepts any client certificate its CA signed: were that the cluster CA, a
    # worker's kubelet certificate would read and write all of etcd.
    pki = lab.pki_dir(CTL_ID)
    etcd_ca, ca = _cert(pki / "etcd-ca.crt"), _ca(lab)
    assert etcd_ca.public_key().public_numbers() != ca.public_key().public_numbers()
    mined = lab.call(CTL_ID, "mine.get", CA_ID, "vent_etcd_ca_cert").data[CA_ID]
    assert x509.load_pem_x509_certificate(mined.encode()) == etcd_ca
    for name in ETCD_SIGNED:
        _cert(pki / f"{name}.crt").verify_directly_issued_by(etcd_ca)
    for node, name in ((WRK_ID, "kubelet"), (WRK_ID, "kube-proxy"), (CTL_ID, "admin")):
        with pytest.raises((ValueError, InvalidSignature)):
            _cert(lab.pki_dir(node) / f"{name}.crt").verify_directly_issued_by(etcd_ca)
    assert not (lab.pki_dir(WRK_ID) / "etcd-ca.crt").exists()
    conf = lab.call(CTL_ID, "vent_etcd.tls_files", str(pki)).data
    assert conf["ca"] == str(pki / "etcd-ca.crt")


def test_ca_key_only_in_the_ca_minions_pillar(lab):
    for mid in (CTL_ID, WRK_ID):
        pillar = lab.call(mid, "pillar.items", unmask=True).data
        assert "ca" not in pillar["vent"]["pki"]
        assert "x509_signing_policies" not in pillar
        assert "PRIVATE KEY" not in repr(pillar.get("vent", {}).get("pki", {}).get("ca"))
        assert pillar["vent"]["pki"]["ca_minion"] == CA_ID
    ca_pillar = lab.call(CA_ID, "pillar.items", unmask=True).data
    assert "BEGIN PRIVATE KEY" in ca_pillar["vent"]["pki"]["ca"]["key"]
    assert "vent-apiserver" in ca_pillar["x509_signing_policies"]
    ca_dir = lab.pki_dir(CA_ID) / "ca"
    assert stat.S_IMODE(os.stat(ca_dir / "ca.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(ca_dir / "ca.crt").st_mode) == 0o644


def test_validate_finds_the_encryption_key_where_controllers_get_it(lab):
    # The CA minion here has no role, so its pillar has no encryption key; validation
    # must look where the key goes, not report it missing.
    assert not lab.call(CA_ID, "pillar.items", unmask=True).data["vent"]["encryption"]["key"]
    ret = lab.master.salt_run_cli(timeout=120).run("vent.validation", f"minion_id={CA_ID}")
    assert not [e for e in ret.data["errors"] if "vent:encryption:key" in e], ret.data["errors"]


def test_service_account_key_only_on_controllers(lab):
    pillar = lab.call(WRK_ID, "pillar.items", unmask=True).data
    assert "service_account" not in pillar["vent"]["pki"]
    pki = lab.pki_dir(CTL_ID)
    key = serialization.load_pem_private_key((pki / "service-account.key").read_bytes(), None)
    pub = serialization.load_pem_public_key((pki / "service-account.pub").read_bytes())
    assert key.public_key().public_numbers() == pub.public_numbers()
    assert stat.S_IMODE(os.stat(pki / "service-account.key").st_mode) == 0o640


def test_ca_init_refuses_to_replace_the_ca(lab):
    target = lab.pillar / "secrets" / "ca.sls"
    before = target.read_bytes()
    ret = lab.master.salt_run_cli(timeout=120).run("vent.ca_init", f"ca_minion={CA_ID}")
    assert "exists already" in ret.stdout + ret.stderr
    assert target.read_bytes() == before
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def _key_bodies(lab):
    """The keys each node made itself (the service-account key is a pillar secret,
    like the CA key, so the master holds it by design)."""
    bodies = {}
    for node in (CTL_ID, WRK_ID):
        for key in lab.pki_dir(node).glob("*.key"):
            if key.name == "service-account.key":
                continue
            pem = key.read_text().splitlines()
            bodies[f"{node}/{key.name}"] = pem[1]  # first base64 line: unique per key
    return bodies


def _files_containing(root, needles):
    hits = set()
    for dirpath, _, files in os.walk(root):
        for f in files:
            try:
                data = Path(dirpath, f).read_bytes()
            except OSError:
                continue
            hits |= {n for n in needles if n.encode() in data}
    return hits


def test_private_keys_stay_on_their_node(lab):
    bodies = _key_bodies(lab)
    assert len(bodies) >= 10
    master_root = Path(lab.master.config["root_dir"])
    ca_root = Path(lab.minions[CA_ID].config["root_dir"])
    for root in (master_root, ca_root, lab.base / CA_ID):
        hit = _files_containing(root, set(bodies.values()))
        assert not hit, f"{root} holds private keys of {[k for k, v in bodies.items() if v in hit]}"
    mine = "".join(
        lab.master.salt_run_cli().run("mine.get", "*", fun).stdout
        for fun in ("vent_ca_cert", "vent_front_proxy_ca_cert", "vent_node")
    )
    assert "PRIVATE KEY" not in mine
    assert "BEGIN CERTIFICATE" in mine


def test_kubeconfigs_point_at_the_right_api(lab):
    ctl = lab.base / CTL_ID / "kubeconfig"
    wrk = lab.base / WRK_ID / "kubeconfig"
    assert sorted(p.name for p in ctl.iterdir()) == [
        "admin.kubeconfig", "kube-controller-manager.kubeconfig", "kube-scheduler.kubeconfig"]
    assert sorted(p.name for p in wrk.iterdir()) == ["kube-proxy.kubeconfig", "kubelet.kubeconfig"]
    # Each node's own API address: a controller's API server, a worker's local proxy
    # over every controller.
    for path, cert in ((ctl / "kube-scheduler.kubeconfig", "kube-scheduler"),
                       (wrk / "kubelet.kubeconfig", "kubelet")):
        doc = yaml.safe_load(path.read_text())
        assert doc["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
        user = doc["users"][0]["user"]
        assert Path(user["client-certificate"]) == path.parent.parent / "pki" / f"{cert}.crt"
        assert Path(doc["clusters"][0]["cluster"]["certificate-authority"]).exists()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_encryption_config_only_on_controller(lab):
    path = lab.base / CTL_ID / "encryption-config.yaml"
    doc = yaml.safe_load(path.read_text())
    provider = doc["resources"][0]["providers"][0]
    assert provider["aescbc"]["keys"][0]["secret"] == ENC_KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (lab.base / WRK_ID / "encryption-config.yaml").exists()


def test_second_apply_changes_nothing(lab):
    for mid in (CA_ID, CTL_ID, WRK_ID):
        ret = lab.apply(mid)
        assert ret.returncode == 0, _failed(ret)
        assert _changed(ret) == [], mid


def _logged_during(lab, mid, run):
    """``run()``'s result and what minion ``mid`` wrote to its debug log meanwhile."""
    log = Path(lab.minions[mid].config["log_file"])
    start = log.stat().st_size
    result = run()
    with log.open("rb") as f:
        f.seek(start)
        return result, f.read()


def _fresh_state_systems(lab, mid, run):
    """How many state systems (each a pillar compile on the master and a fresh set of
    modules) the job ``run()`` started on minion ``mid``."""
    result, logged = _logged_during(lab, mid, run)
    return result, logged.count(b"Loading fresh modules for state activity")


CTL_POLICIES = ["vent-admin", "vent-apiserver", "vent-apiserver-etcd-client",
                "vent-apiserver-kubelet-client", "vent-etcd-peer", "vent-etcd-server",
                "vent-front-proxy-client", "vent-kube-controller-manager", "vent-kube-scheduler"]
WRK_POLICIES = ["vent-kube-proxy", "vent-kubelet", "vent-kubelet-serving"]


@pytest.mark.parametrize(("node", "policies"), [(CTL_ID, CTL_POLICIES), (WRK_ID, WRK_POLICIES)])
def test_a_node_asks_the_ca_for_all_its_signing_policies_in_one_request(lab, node, policies):
    """x509_v2 asks the CA minion for a certificate's signing policy once per
    certificate; the pki formula asks once for all of them first, and the certificate
    states use those answers: one peer request in a run that changes nothing."""
    states, logged = _logged_during(lab, node, lambda: lab.on([node], "state.apply", "pki")[node])
    assert {k: v["changes"] for k, v in states.items() if v["changes"]} == {}
    asked = f"Asked {CA_ID} for the signing policies {', '.join(policies)} (job ".encode()
    assert logged.count(asked) == 1, logged.decode(errors="replace")[-3000:]
    assert logged.count(b"Publishing 'x509.sign_remote_certificate'") == 0
    (prepared,) = [v for k, v in states.items() if k.startswith("vent_pki_|-pki-certs-signing-prepared")]
    count = len(policies)
    assert prepared["comment"] == f"{count} of {count} signing policies from {CA_ID} in one request"
    assert sorted(c["signing_policy"] for c in lab.call(node, "vent_pki.remotely_signed").data) == policies


WRK_CERTS = {"kubelet": "vent-kubelet", "kubelet-serving": "vent-kubelet-serving",
             "kube-proxy": "vent-kube-proxy"}


def test_a_node_missing_its_certificates_has_them_signed_in_one_request(lab):
    """x509_v2 asks the CA minion to sign each certificate in a request of its own, a
    job of the CA minion each; the pki formula queues the node's missing ones and the
    first certificate state asks for all of them at once."""
    pki = lab.pki_dir(WRK_ID)
    for name in WRK_CERTS:
        (pki / f"{name}.crt").unlink()
    states, logged = _logged_during(lab, WRK_ID, lambda: lab.on([WRK_ID], "state.apply", "pki")[WRK_ID])
    assert _failed_states(states) == {}
    text = logged.decode(errors="replace")
    asked = f"Asked {CA_ID} for the certificates of {', '.join(WRK_CERTS.values())} (job "
    assert text.count(asked) == 1, text[-3000:]
    assert text.count("Publishing 'x509.sign_remote_certificate'") == 0, text[-3000:]
    assert text.count("for the signing policies") == 0  # none was there to check
    (prepared,) = [v for k, v in states.items() if k.startswith("vent_pki_|-pki-certs-signing-prepared")]
    assert prepared["comment"] == f"3 of 3 missing certificates queued to be signed by {CA_ID} in one request"
    for name in WRK_CERTS:
        cert = _cert(pki / f"{name}.crt")
        cert.verify_directly_issued_by(_ca(lab))
        key = serialization.load_pem_private_key((pki / f"{name}.key").read_bytes(), None)
        assert cert.public_key() == key.public_key(), name
    assert _names(_cert(pki / "kube-proxy.crt"), NameOID.COMMON_NAME) == ["system:kube-proxy"]
    assert _changed(lab.apply(WRK_ID)) == []


@pytest.mark.parametrize(("node", "has", "has_not"), [
    (WRK_ID, ["pki/certs/node.sls"],
     ["pki/certs/controller.sls", "pki/certs/etcd.sls", "pki/certs/etcd_ca.sls",
      "pki/certs/service_account.sls", "pki/encryption/init.sls", "pki/ca/init.sls"]),
    (CTL_ID, ["pki/certs/controller.sls", "pki/certs/etcd.sls", "pki/encryption/init.sls"],
     ["pki/certs/node.sls", "pki/ca/init.sls"]),
])
def test_a_node_renders_only_the_parts_of_the_pki_it_has(lab, node, has, has_not):
    """Every sls file a run includes is fetched from the master and rendered, each of
    its imports too: the pki formula includes the parts that apply to the node."""
    _, logged = _logged_during(lab, node, lambda: lab.on([node], "state.apply", "pki")[node])
    assert [f for f in has if f.encode() not in logged] == []
    assert [f for f in has_not if f.encode() in logged] == []


def test_a_policy_the_ca_refuses_is_left_to_its_certificate_state(lab):
    # The CA answers each policy as x509_v2 would for this minion: the worker gets its
    # own, and the CA's refusal for a controller's, which is not kept.
    ret = lab.call(WRK_ID, "vent_pki.fetch_signing_policies", CA_ID, '["vent-kube-proxy", "vent-admin"]')
    assert ret.returncode == 0, ret
    assert ret.data == {"fetched": ["vent-kube-proxy"],
                        "left": {"vent-admin": "minion not permitted to use specified signing policy"}}


def _file_changes(states):
    """{path: changes} of the file.managed sub-states the x509 states report."""
    return {v["name"]: (v["result"], v["changes"]) for k, v in states.items()
            if k.startswith("file_|-") and "x509" in k and v["changes"]}


def test_x509_states_correct_mode_in_the_running_state_system(lab):
    """Salt's x509 states with the fix Vent carries (salt/_states/x509_v2.py): a job
    of salt-minion checks each file's mode in the state system it runs in, not in one
    new state system per check; a test run only reports the drift, a real run corrects
    and reports it, the next run changes nothing."""
    extmods = Path(lab.on([WRK_ID], "config.get", "extension_modules")[WRK_ID])
    assert (extmods / "states" / "x509_v2.py").is_file(), sorted(extmods.rglob("*.py"))
    key, crt = lab.pki_dir(WRK_ID) / "kube-proxy.key", lab.pki_dir(WRK_ID) / "kube-proxy.crt"
    modes = {key: stat.S_IMODE(key.stat().st_mode), crt: stat.S_IMODE(crt.stat().st_mode)}
    drift = {key: 0o644, crt: 0o600}
    assert all(modes[p] != drift[p] for p in modes), modes
    for path, mode in drift.items():
        path.chmod(mode)
    try:
        pending, systems = _fresh_state_systems(
            lab, WRK_ID, lambda: lab.on([WRK_ID], "state.apply", "pki", "test=True")[WRK_ID])
        assert systems == 1, systems
        assert _file_changes(pending) == {
            str(p): (None, {"mode": f"{modes[p]:04o}"}) for p in modes}, _file_changes(pending)
        assert {p: stat.S_IMODE(p.stat().st_mode) for p in drift} == drift

        done = lab.on([WRK_ID], "state.apply", "pki")[WRK_ID]
        assert _file_changes(done) == {
            str(p): (True, {"mode": f"{modes[p]:04o}"}) for p in modes}, _file_changes(done)
        assert {p: stat.S_IMODE(p.stat().st_mode) for p in modes} == modes
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    assert _changed(lab.apply(WRK_ID)) == []


def _serial(lab, node, name):
    return _cert(lab.pki_dir(node) / f"{name}.crt").serial_number


def test_certificates_inside_renewal_window_are_renewed(lab):
    names = list(EXPECTED[WRK_ID])
    before = {n: _serial(lab, WRK_ID, n) for n in names}
    keys = {n: (lab.pki_dir(WRK_ID) / f"{n}.key").read_bytes() for n in names}
    ctl_before = _serial(lab, CTL_ID, "apiserver")
    lab.set_site(wrk_days_remaining=400)  # every 365-day certificate is "near expiry"
    try:
        ret = lab.apply(WRK_ID)
        assert ret.returncode == 0, _failed(ret)
        assert all(_serial(lab, WRK_ID, n) != before[n] for n in names)
        assert all((lab.pki_dir(WRK_ID) / f"{n}.key").read_bytes() == keys[n] for n in names)
        assert len(_reissued(ret)) == len(names), _changes(ret)
    finally:
        lab.set_site()
    assert _changed(lab.apply(WRK_ID)) == []
    assert _serial(lab, CTL_ID, "apiserver") == ctl_before


def test_new_address_reissues_only_the_affected_certificates(lab):
    grains = {**ADDR[WRK_ID], "public_ip": "198.18.0.33"}
    assert lab.call(WRK_ID, "grains.setval", "vent", grains).returncode == 0
    try:
        ret = lab.apply(WRK_ID)
        assert ret.returncode == 0, _failed(ret)
        changed = _reissued(ret)
        assert len(changed) == 2 and all("kubelet" in c for c in changed), changed
        assert "198.18.0.33" in _sans(_cert(lab.pki_dir(WRK_ID) / "kubelet-serving.crt"))
    finally:
        lab.call(WRK_ID, "grains.setval", "vent", ADDR[WRK_ID])
    lab.apply(WRK_ID)


def _mined_ca(lab):
    ret = lab.master.salt_run_cli(timeout=60).run("mine.get", CA_ID, "vent_ca_cert")
    return (ret.data or {}).get(CA_ID) if isinstance(ret.data, dict) else None


def test_a_ca_certificate_written_by_pki_ca_is_in_the_mine_when_it_returns(lab):
    """The nodes' step after pki.ca reads the CA certificate from the mine: the master
    has stored it by the time the state that wrote it returns."""
    assert lab.call(CA_ID, "mine.delete", "vent_ca_cert").returncode == 0
    deadline = time.monotonic() + 30
    while _mined_ca(lab) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _mined_ca(lab), "mine.delete did not take"
    crt = lab.base / CA_ID / "pki" / "ca" / "ca.crt"
    crt.unlink()
    ret = lab.apply(CA_ID, "pki.ca")
    assert ret.returncode == 0, _failed(ret)
    published = [v for k, v in ret.data.items() if k.startswith("module_|-pki-ca-files-mine")]
    assert published and published[0]["result"] is True and published[0]["changes"], published
    assert (_mined_ca(lab) or "").strip() == crt.read_text().strip()


def test_node_without_ca_in_the_mine_fails_saying_what_to_run(lab):
    ret = lab.apply(WRK_ID, "pki.certs.node", pillar={"vent": {"pki": {"ca_minion": "no-ca"}}})
    assert ret.returncode != 0
    comments = " ".join(_failed(ret).values())
    assert "One or more requisite failed" in comments  # nothing else was attempted
    assert "No CA certificate" in comments
    assert "salt-run vent.ca_init ca_minion=no-ca" in comments


def test_operator_kubeconfig_key_made_on_the_master(lab):
    path = lab.base / "operator" / "developer.kubeconfig"
    ret = lab.master.salt_run_cli(timeout=120).run(
        "vent.kubeconfig", "user=developer", f"path={path}")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = yaml.safe_load(path.read_text())
    import base64

    assert doc["clusters"][0]["cluster"]["server"] == "https://198.18.0.2:6443"
    user = doc["users"][0]["user"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    key = serialization.load_pem_private_key(base64.b64decode(user["client-key-data"]), None)
    cert.verify_directly_issued_by(_ca(lab))
    assert _names(cert, NameOID.COMMON_NAME) == ["developer"]
    assert _names(cert, NameOID.ORGANIZATION_NAME) == ["system:masters"]
    assert _ekus(cert) == {CLIENT}
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    body = base64.b64decode(user["client-key-data"]).decode().splitlines()[1]
    assert not _files_containing(Path(lab.minions[CA_ID].config["root_dir"]), {body})
    # Peers may not use the developer policy: only the CA minion itself.
    ret = lab.call(WRK_ID, "x509.create_certificate", ca_server=CA_ID,
                   signing_policy="vent-developer", CN="developer", O="system:masters")
    assert ret.returncode != 0 or "BEGIN CERTIFICATE" not in str(ret.data)


def test_clean_removes_what_the_formula_made(lab):
    ret = lab.apply(WRK_ID, "pki.clean")
    assert ret.returncode == 0, _failed(ret)
    assert not (lab.base / WRK_ID / "pki").exists()
    assert not (lab.base / WRK_ID / "kubeconfig").exists()
