"""vent_pki's pure parts: signing policies and the operator's API endpoint."""

from __future__ import annotations

import datetime

import pytest
import salt.modules.x509_v2
from conftest import load_salt_module, settings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from salt.exceptions import SaltInvocationError

from ventlab.model import model

pki = load_salt_module("salt/_modules/vent_pki.py", "vent_pki_under_test")

CA = {"key": "CA-KEY", "cert": "CA-CERT", "front_proxy_key": "FP-KEY",
      "front_proxy_cert": "FP-CERT", "etcd_key": "ETCD-KEY", "etcd_cert": "ETCD-CERT"}
NODES = {
    "controller-1": {"roles": ["controller"], "private_ip": "100.72.0.4",
                     "public_ip": "198.18.0.4"},
    "controller-0": {"roles": ["controller"], "private_ip": "100.72.0.2",
                     "public_ip": "198.18.0.2"},
    "worker-0": {"roles": ["worker"], "private_ip": "100.72.0.3", "public_ip": "198.18.0.3"},
}


def _policy(policies, name):
    merged = {}
    for item in policies[name]:
        merged.update(item)
    return merged


def test_every_kind_has_a_policy_with_fixed_usage():
    policies = pki.signing_policies(CA, "pki-ca")
    assert set(policies) == {f"vent-{k}" for k in pki.POLICIES}
    for name in policies:
        p = _policy(policies, name)
        assert p["basicConstraints"] == "critical, CA:false"
        assert p["extendedKeyUsage"]


def test_groups_are_fixed_by_the_ca_not_the_requester():
    policies = pki.signing_policies(CA, "pki-ca")
    assert _policy(policies, "vent-kubelet")["O"] == "system:nodes"
    assert _policy(policies, "vent-admin")["O"] == "system:masters"
    assert "O" not in _policy(policies, "vent-apiserver-etcd-client")


def test_each_policy_names_the_roles_that_may_request_it():
    policies = pki.signing_policies(CA, "pki-ca")
    minions = {n: _policy(policies, n)["minions"] for n in policies}
    assert minions["vent-developer"] == "L@pki-ca"
    # Every certificate of a group the API trusts with everything is a controller's.
    for name in policies:
        if _policy(policies, name).get("O") == "system:masters":
            assert minions[name] == "G@roles:controller", name
    for name in ("vent-apiserver", "vent-apiserver-etcd-client", "vent-kube-controller-manager",
                 "vent-kube-scheduler", "vent-front-proxy-client"):
        assert minions[name] == "G@roles:controller", name
    for name in ("vent-etcd-server", "vent-etcd-peer"):
        assert minions[name] == "G@roles:etcd or G@roles:controller", name
    for name in ("vent-kubelet", "vent-kubelet-serving", "vent-kube-proxy"):
        assert minions[name] == "G@roles:worker or G@roles:controller", name


def test_etcd_certificates_signed_by_the_etcd_ca():
    policies = pki.signing_policies(CA, "pki-ca")
    for name in ("vent-etcd-server", "vent-etcd-peer", "vent-apiserver-etcd-client"):
        assert _policy(policies, name)["signing_private_key"] == "ETCD-KEY", name
    assert _policy(policies, "vent-kubelet")["signing_private_key"] == "CA-KEY"
    # A CA made before the etcd CA existed goes on signing etcd's certificates itself.
    older = pki.signing_policies({k: v for k, v in CA.items() if not k.startswith("etcd_")},
                                 "pki-ca")
    assert _policy(older, "vent-etcd-server")["signing_private_key"] == "CA-KEY"


def test_etcd_trusts_the_cluster_ca_where_the_ca_minion_publishes_no_etcd_ca(monkeypatch):
    published = {pki.CA_MINE: "CLUSTER-CA-PEM"}
    monkeypatch.setattr(pki, "__opts__", {"id": "controller-1"}, raising=False)
    monkeypatch.setattr(pki, "__pillar__", {"vent": settings()}, raising=False)
    monkeypatch.setattr(pki, "__salt__", {"vent_cluster.mine": lambda tgt, fun: (
        {tgt: published[fun]} if fun in published else {})}, raising=False)
    assert pki.etcd_ca_pem() == "CLUSTER-CA-PEM"  # a CA file from before the etcd CA
    published[pki.ETCD_CA_MINE] = "ETCD-CA-PEM"
    assert pki.etcd_ca_pem() == "ETCD-CA-PEM"
    published.clear()
    assert pki.etcd_ca_pem() == ""  # nothing published yet: pki.certs.etcd_ca says what to run


def test_front_proxy_client_signed_by_the_front_proxy_ca():
    policies = pki.signing_policies(CA, "pki-ca")
    assert _policy(policies, "vent-front-proxy-client")["signing_private_key"] == "FP-KEY"
    assert _policy(policies, "vent-apiserver")["signing_private_key"] == "CA-KEY"
    no_fp = pki.signing_policies({"key": "K", "cert": "C"}, "pki-ca")
    assert "vent-front-proxy-client" not in no_fp


def test_operator_endpoint_pillar_first_then_first_controllers_public_ip():
    vent = settings()
    assert model.operator_api(vent, NODES) == "https://198.18.0.2:6443"
    vent["cluster"]["api"]["endpoint"] = "api.example.test"
    assert model.operator_api(vent, NODES) == "https://api.example.test:6443"
    vent["cluster"]["api"]["endpoint"] = "fd00::10"
    assert model.operator_api(vent, NODES) == "https://[fd00::10]:6443"
    vent["cluster"]["api"]["endpoint"] = None
    assert model.operator_api(vent, {}) is None


def test_san_list_tells_ips_from_names_and_drops_duplicates():
    assert pki._san(["h", "100.72.0.2", None, "h", "fd00::1"]) == (
        "DNS:h, IP:100.72.0.2, IP:fd00::1")


# --- a node's signing policies in one request ------------------------------------


def _ca_cert():
    """A self-signed CA certificate and its private key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def _der_cert():
    cert, _ = _ca_cert()
    return cert, cert.public_bytes(serialization.Encoding.DER)


def _node(monkeypatch, answer, pending=0):
    """vent_pki on a node whose requests to the master (a test double) find the CA
    minion's ``answer`` ({} when the peer setting refuses) after ``pending`` questions,
    and are recorded."""
    sent, context = [], {}

    class ChannelDouble:
        opened = 0

        def __enter__(self):
            ChannelDouble.opened += 1
            return self

        def __exit__(self, *exc):
            return False

        def send(self, load):
            sent.append(load)
            if load["cmd"] == "minion_pub":
                return {"jid": "20261205", "minions": [load["tgt"]]} if answer else {}
            asked = sum(1 for s in sent if s["cmd"] == "pub_ret")
            return {} if asked <= pending else {t: {"ret": r} for t, r in answer.items()}

    monkeypatch.setattr(pki, "_channel", ChannelDouble)
    monkeypatch.setattr(pki, "ASK_EVERY_SECONDS", 0)
    monkeypatch.setattr(pki, "__opts__", {"id": "worker-0", "master_uri": "tcp://198.18.0.1:4506"},
                        raising=False)
    monkeypatch.setattr(pki, "__context__", context, raising=False)
    return sent, context


def test_policy_cache_is_the_installed_x509_v2s():
    # The cache the fetch fills is the one this Salt's get_signing_policy reads; when
    # Salt changes that function this fails, the signal to look again.
    digest = pki._util("vent_upstream.source_digest")
    assert digest(salt.modules.x509_v2.get_signing_policy) == pki.POLICY_CACHE_SOURCE


def test_policy_answer_is_the_installed_x509_v2s():
    # The CA gives _policy_answer in place of sign_remote_certificate's answer only for
    # the function it was written against; otherwise every policy is upstream's to
    # answer, so a stale digest would quietly cost a master runner per policy.
    digest = pki._util("vent_upstream.source_digest")
    assert digest(salt.modules.x509_v2.sign_remote_certificate) == pki.ANSWER_SOURCE


def test_policies_granted_are_kept_where_x509_v2_looks_first(monkeypatch):
    cert, der = _der_cert()
    granted = {"data": {"signing_cert": der, "CN": "system:kube-proxy"}, "errors": []}
    refused = {"data": None, "errors": ["minion not permitted to use specified signing policy"]}
    sent, context = _node(monkeypatch, {"ca-0": {"vent-kube-proxy": granted, "vent-admin": refused}},
                          pending=2)
    got = pki.fetch_signing_policies("ca-0", ["vent-kube-proxy", "vent-admin", "vent-kube-proxy"])
    # publish.publish's request, then its question for the answer until the CA minion
    # has answered.
    (pub, *rets) = sent
    assert (pub["cmd"], pub["fun"], pub["arg"], pub["tgt"], pub["tgt_type"], pub["id"]) == (
        "minion_pub", "vent_pki.remote_signing_policies", [["vent-admin", "vent-kube-proxy"]],
        "ca-0", "glob", "worker-0")
    assert rets == [{"cmd": "pub_ret", "id": "worker-0", "jid": "20261205"}] * 3
    assert pki._channel.opened == 1  # one channel for the request and its asks
    assert got == {"fetched": ["vent-kube-proxy"],
                   "left": {"vent-admin": "minion not permitted to use specified signing policy"}}
    kept = context[pki.POLICY_CACHE]["ca-0"]
    assert set(kept) == {"vent-kube-proxy"}  # a refused one is asked for by its state
    assert x509.load_pem_x509_certificate(kept["vent-kube-proxy"]["signing_cert"].encode()) == cert
    assert kept["vent-kube-proxy"]["CN"] == "system:kube-proxy"


def test_no_answer_leaves_every_policy_to_its_certificate(monkeypatch):
    sent, context = _node(monkeypatch, {})  # the master's answer when its peer setting refuses
    got = pki.fetch_signing_policies("ca-0", ["vent-kubelet"])
    assert got["fetched"] == [] and context == {} and len(sent) == 1
    assert "ca-0 did not answer vent_pki.remote_signing_policies" in got["left"]["vent-kubelet"]


def test_a_masterless_node_asks_nothing(monkeypatch):
    sent, _ = _node(monkeypatch, {"ca-0": {}})
    monkeypatch.setattr(pki, "__opts__", {"id": "worker-0"}, raising=False)
    assert pki.fetch_signing_policies("ca-0", ["vent-kubelet"])["fetched"] == [] and sent == []


def test_another_x509_v2_is_left_alone(monkeypatch):
    sent, context = _node(monkeypatch, {"ca-0": {}})
    monkeypatch.setattr(pki, "POLICY_CACHE_SOURCE", "0" * 64)
    got = pki.fetch_signing_policies("ca-0", ["vent-kubelet"])
    assert sent == [] and context == {} and got["fetched"] == []
    assert "not the one whose policy cache Vent fills" in got["left"]["vent-kubelet"]


def _ca_minion(monkeypatch, grant):
    """The CA minion's vent_pki over Salt's own x509_v2 functions, its pillar holding
    Vent's signing policies; the master's answer to match.compound_matches is a test
    double that grants (``grant``) or refuses, and counts the questions."""
    cert, key = _ca_cert()
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    pillar = {"x509_signing_policies": pki.signing_policies(
        {**CA, "cert": pem, "etcd_cert": pem, "front_proxy_cert": pem, "key": key_pem}, "ca-0")}
    asked = []

    def compound_matches_double(fun, arg):
        asked.append(tuple(arg))
        return {"res": arg[1] if grant else None}

    upstream = salt.modules.x509_v2
    monkeypatch.setattr(upstream, "__salt__", {
        "pillar.get": lambda key, default=None, **kw: pillar.get(key, default),
        "config.get": lambda key, default=None: default,
        "publish.runner": compound_matches_double,
    }, raising=False)
    monkeypatch.setattr(upstream, "__opts__", {}, raising=False)
    monkeypatch.setattr(pki, "__salt__", {"x509.sign_remote_certificate": upstream.sign_remote_certificate,
                                          "x509.get_signing_policy": upstream.get_signing_policy},
                        raising=False)
    return upstream, asked, cert


NODE_POLICIES = ["vent-kube-proxy", "vent-kubelet", "vent-kubelet-serving"]


def test_the_ca_answers_each_policy_as_x509_v2_does_asking_the_master_once_per_holders(monkeypatch):
    upstream, asked, _ = _ca_minion(monkeypatch, grant=True)
    each = {n: upstream.sign_remote_certificate(n, {}, True, __pub_id="worker-0") for n in NODE_POLICIES}
    assert len(asked) == 3 and all(not a["errors"] for a in each.values())
    asked.clear()
    got = pki.remote_signing_policies(NODE_POLICIES + ["vent-etcd-peer"], __pub_id="worker-0",
                                      __pub_jid="1", __pub_tgt="ca-0")
    assert {n: got[n] for n in NODE_POLICIES} == each
    assert not {"signing_private_key", "minions"} & set(got["vent-kubelet"]["data"])
    # The three node policies share their holders: one question; the etcd one another.
    assert asked == [("G@roles:worker or G@roles:controller", "worker-0"),
                     ("G@roles:etcd or G@roles:controller", "worker-0")]


def test_a_refused_node_gets_x509_v2s_refusal_for_each_policy(monkeypatch):
    upstream, asked, _ = _ca_minion(monkeypatch, grant=False)
    got = pki.remote_signing_policies(NODE_POLICIES, __pub_id="worker-0")
    assert got == dict.fromkeys(NODE_POLICIES, {
        "data": None, "errors": ["minion not permitted to use specified signing policy"]})
    assert len(asked) == 3


def test_another_x509_v2_answers_every_policy_itself(monkeypatch):
    upstream, asked, _ = _ca_minion(monkeypatch, grant=True)
    monkeypatch.setattr(pki, "ANSWER_SOURCE", "0" * 64)
    got = pki.remote_signing_policies(NODE_POLICIES, __pub_id="worker-0")
    assert all(not a["errors"] for a in got.values()) and len(asked) == 3


def test_the_ca_refuses_a_bad_list_of_names():
    for bad in ("vent-a", [], [""], [1]):
        with pytest.raises(SaltInvocationError, match="names: a list of signing policy names"):
            pki.remote_signing_policies(bad, __pub_id="worker-0")


# --- a node's missing certificates in one request ---------------------------------


def _keys(tmp_path, *names):
    """{name: (path of a new P-256 private key, its public key as DER)}."""
    out = {}
    for name in names:
        key = ec.generate_private_key(ec.SECP256R1())
        path = tmp_path / f"{name}.key"
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        out[name] = (str(path), key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    return out


def _args(name, policy, key_path, **subject):
    return {"name": f"/pki/{name}.crt", "ca_server": "ca-0", "signing_policy": policy,
            "private_key": key_path, "days_valid": 365, "digest": "sha256", **subject}


def _as_x509_v2_sends(args, public_key):
    """The request x509_v2's certificate state sends for ``args`` (its
    _create_certificate_remote): the arguments the state leaves unset as None, the
    private key's public half in its place."""
    unset = dict.fromkeys(("signing_private_key", "signing_private_key_passphrase", "signing_cert",
                           "csr", "subject", "serial_number", "not_before", "not_after"))
    sent = {k: v for k, v in args.items() if k not in ("name", "ca_server", "signing_policy", "private_key")}
    return args["signing_policy"], {**unset, **sent, "public_key": public_key}


def test_missing_certificates_are_signed_in_one_request_when_the_first_asks(monkeypatch, tmp_path):
    keys = _keys(tmp_path, "kubelet", "kube-proxy")
    kubelet = _args("kubelet", "vent-kubelet", keys["kubelet"][0], CN="system:node:w0",
                    subjectAltName="DNS:w0")
    proxy = _args("kube-proxy", "vent-kube-proxy", keys["kube-proxy"][0], CN="system:kube-proxy")
    answers = [{"data": b"KUBELET-DER", "errors": []}, {"data": b"PROXY-DER", "errors": []}]
    sent, context = _node(monkeypatch, {"ca-0": answers}, pending=1)

    assert pki.queue_signing("ca-0", [kubelet, proxy]) == {
        "queued": ["/pki/kubelet.crt", "/pki/kube-proxy.crt"], "left": {}}
    assert sent == []  # queueing sends nothing

    first = _as_x509_v2_sends(proxy, keys["kube-proxy"][1])
    assert pki.queued_certificate("ca-0", *first) == b"PROXY-DER"
    (pub, *rets) = sent
    assert (pub["cmd"], pub["fun"], pub["tgt"], pub["id"]) == (
        "minion_pub", "vent_pki.sign_remote_certificates", "ca-0", "worker-0")
    (requests,) = pub["arg"]
    assert requests == [
        ["vent-kubelet", {"CN": "system:node:w0", "subjectAltName": "DNS:w0", "days_valid": 365,
                          "digest": "sha256", "public_key": keys["kubelet"][1]}],
        ["vent-kube-proxy", {"CN": "system:kube-proxy", "days_valid": 365, "digest": "sha256",
                             "public_key": keys["kube-proxy"][1]}]]
    assert len(rets) == 2

    second = _as_x509_v2_sends(kubelet, keys["kubelet"][1])
    assert pki.queued_certificate("ca-0", *second) == b"KUBELET-DER"
    assert len(sent) == 3  # the second took its answer: nothing more was sent
    # Each answer is taken once: a retry of its state asks on its own.
    assert pki.queued_certificate("ca-0", *second) is None and len(sent) == 3


def test_a_request_not_queued_refused_or_unanswered_is_left_to_x509_v2(monkeypatch, tmp_path):
    keys = _keys(tmp_path, "kubelet", "admin")
    kubelet = _args("kubelet", "vent-kubelet", keys["kubelet"][0], CN="system:node:w0")
    admin = _args("admin", "vent-admin", keys["admin"][0], CN="admin")
    refused = {"data": None, "errors": ["minion not permitted to use specified signing policy"]}
    sent, _ = _node(monkeypatch, {"ca-0": [{"data": b"KUBELET-DER", "errors": []}, refused]})
    pki.queue_signing("ca-0", [kubelet, admin])
    # Another subject than queued: not this queue's request, nothing is sent for it.
    other = _as_x509_v2_sends({**kubelet, "CN": "system:node:w1"}, keys["kubelet"][1])
    assert pki.queued_certificate("ca-0", *other) is None and sent == []
    assert pki.queued_certificate("ca-0", *_as_x509_v2_sends(admin, keys["admin"][1])) is None
    assert pki.queued_certificate("ca-0", *_as_x509_v2_sends(kubelet, keys["kubelet"][1])) == b"KUBELET-DER"
    assert sum(1 for s in sent if s["cmd"] == "minion_pub") == 1


def test_a_ca_that_does_not_answer_leaves_each_certificate_to_ask_on_its_own(monkeypatch, tmp_path, caplog):
    keys = _keys(tmp_path, "kubelet", "kube-proxy")
    certificates = [_args("kubelet", "vent-kubelet", keys["kubelet"][0], CN="system:node:w0"),
                    _args("kube-proxy", "vent-kube-proxy", keys["kube-proxy"][0], CN="system:kube-proxy")]
    sent, _ = _node(monkeypatch, {})  # the master's answer when its peer setting refuses
    pki.queue_signing("ca-0", certificates)
    for name, args in zip(("kubelet", "kube-proxy"), certificates, strict=True):
        assert pki.queued_certificate("ca-0", *_as_x509_v2_sends(args, keys[name][1])) is None
    assert len(sent) == 1
    assert "ca-0 did not answer vent_pki.sign_remote_certificates" in caplog.text


def test_a_key_that_cannot_be_read_leaves_its_certificate_to_its_state(monkeypatch, tmp_path):
    sent, context = _node(monkeypatch, {"ca-0": []})
    missing = _args("kubelet", "vent-kubelet", str(tmp_path / "absent.key"), CN="system:node:w0")
    got = pki.queue_signing("ca-0", [missing])
    assert got["queued"] == [] and list(got["left"]) == ["/pki/kubelet.crt"]
    assert got["left"]["/pki/kubelet.crt"].startswith(f"its key {tmp_path / 'absent.key'} cannot be read")
    assert sent == []


def test_the_ca_signs_each_request_as_x509_v2_does(monkeypatch, tmp_path):
    upstream, asked, ca = _ca_minion(monkeypatch, grant=True)
    keys = _keys(tmp_path, "kubelet", "kube-proxy")
    got = pki.sign_remote_certificates([
        ["vent-kubelet", {"CN": "system:node:w0", "subjectAltName": "DNS:w0, IP:100.72.0.3",
                          "days_valid": 365, "digest": "sha256", "public_key": keys["kubelet"][1]}],
        ["vent-kube-proxy", {"CN": "someone-else", "days_valid": 365, "public_key": keys["kube-proxy"][1]}],
    ], __pub_id="worker-0", __pub_jid="1")
    kubelet, proxy = (x509.load_der_x509_certificate(a["data"]) for a in got)
    assert [a["errors"] for a in got] == [[], []]
    assert kubelet.subject.rfc4514_string() == "CN=system:node:w0,O=system:nodes"
    san = kubelet.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["w0"]
    assert kubelet.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == keys["kubelet"][1]
    # The policy's fixed subject wins over the request's, as x509_v2 decides.
    assert proxy.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-proxy"
    assert len(asked) == 2  # x509_v2 asked the master about the node for each
    for cert in (kubelet, proxy):
        cert.verify_directly_issued_by(ca)


def test_the_ca_refuses_a_request_the_node_may_not_make(monkeypatch, tmp_path):
    upstream, asked, _ = _ca_minion(monkeypatch, grant=False)
    keys = _keys(tmp_path, "admin")
    got = pki.sign_remote_certificates([["vent-admin", {"public_key": keys["admin"][1]}]],
                                       __pub_id="worker-0")
    assert got == [{"data": None, "errors": ["minion not permitted to use specified signing policy"]}]
    for bad in ([], "vent-admin", [["vent-admin"]], [["", {}]], [["vent-admin", "kwargs"]]):
        with pytest.raises(SaltInvocationError, match=r"requests: a list of \[signing policy, kwargs\]"):
            pki.sign_remote_certificates(bad, __pub_id="worker-0")
