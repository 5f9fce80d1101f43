"""The x509_v2 execution module Vent carries (salt/_modules/x509_v2.py): Salt's own,
with the master's yes to a policy's compound ``minions`` kept for a minute, and a
request to sign that the pki formula queued answered by vent_pki. The CA minion's
signings on real minions are tested in test_pki.py."""

from __future__ import annotations

import datetime
import json

import pytest
import salt.modules.x509_v2 as upstream
from conftest import load_salt_module
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

carried = load_salt_module("salt/_modules/x509_v2.py", "x509_v2_matches_under_test")
pki = load_salt_module("salt/_modules/vent_pki.py", "vent_pki_queue_under_test")

WORKERS = "G@roles:worker or G@roles:controller"


class MasterDouble:
    """publish.runner as the CA minion calls it: the master's answer to
    match.compound_matches (``matching``: the minions that match ``WORKERS``; nothing
    matches another target), and every question asked."""

    def __init__(self, matching=("worker-0",)):
        self.matching, self.asked = set(matching), []

    def __call__(self, fun, arg=None, timeout=5):
        self.asked.append((fun, arg))
        test, minion = arg
        return {"res": minion if test == WORKERS and minion in self.matching else False}


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def master(tmp_path, monkeypatch):
    carried.__opts__ = {"cachedir": str(tmp_path)}
    double = MasterDouble()
    carried.__salt__ = {"publish.runner": double,
                        "match.glob": lambda test, minion: test == minion}
    assert carried.__virtual__() == "x509"
    clock = Clock()
    monkeypatch.setattr(carried.time, "time", clock)
    double.clock = clock
    return double


def test_keeping_is_active_on_the_pinned_salt(master):
    # Fails when Salt's _match_minions changes: then check what it does now.
    digest = carried.__utils__["vent_upstream.source_digest"](upstream._match_minions)
    assert digest == carried.KEPT_UPSTREAM_SOURCE, "Salt's x509_v2._match_minions is not the one kept"
    assert carried._match_minions is carried._match_minions_kept


def test_every_function_is_salts_own_bound_to_this_module(master):
    for name in ("sign_remote_certificate", "create_certificate", "get_signing_policy",
                 "create_private_key", "read_certificate"):
        ours, theirs = getattr(carried, name), getattr(upstream, name)
        assert ours.__code__ is theirs.__code__, name
        assert ours.__globals__ is vars(carried), name
    assert carried._salt_own["_match_minions"].__code__ is upstream._match_minions.__code__


def test_on_another_salt_every_signing_asks_the_master(master, monkeypatch, caplog):
    monkeypatch.setattr(carried, "KEPT_UPSTREAM_SOURCE", "0" * 64)
    assert carried.__virtual__() == "x509"
    assert carried._match_minions.__code__ is upstream._match_minions.__code__
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert len(master.asked) == 2
    assert "salt.modules.x509_v2._match_minions is not the one Vent's _match_minions_kept" in caplog.text


def test_a_match_is_asked_of_the_master_once_a_minute(master):
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert master.asked == [("match.compound_matches", [WORKERS, "worker-0"])]
    master.clock.now += carried.MATCH_SECONDS + 1
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert len(master.asked) == 2


def test_a_match_is_kept_for_that_minion_and_that_target_only(master):
    master.matching.add("worker-1")
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert carried._match_minions(WORKERS, "worker-1") is True
    assert carried._match_minions("G@roles:controller", "worker-0") is False
    assert [arg for _, arg in master.asked] == [[WORKERS, "worker-0"], [WORKERS, "worker-1"],
                                                ["G@roles:controller", "worker-0"]]


def test_a_refusal_is_never_kept(master):
    assert carried._match_minions(WORKERS, "stranger") is False
    master.matching.add("stranger")  # the master has its grains now
    assert carried._match_minions(WORKERS, "stranger") is True
    assert len(master.asked) == 2


def test_a_plain_glob_is_matched_here_without_the_master(master):
    assert carried._match_minions("controller-0", "controller-0") is True
    assert carried._match_minions("controller-0", "worker-0") is False
    assert master.asked == []


@pytest.mark.parametrize("kept", [
    "{not json",
    json.dumps(["a list"]),
    json.dumps({json.dumps([WORKERS, "worker-0"]): "soon"}),
    # further away than a match is ever kept: the clock was set back, or the file forged
    json.dumps({json.dumps([WORKERS, "worker-0"]): 1_000_000.0 + 10 * 60}),
])
def test_a_kept_file_that_cannot_be_trusted_means_asking_the_master(master, tmp_path, kept):
    path = tmp_path / "vent_pki" / "compound_matches.json"
    path.parent.mkdir()
    path.write_text(kept)
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert len(master.asked) == 1
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert len(master.asked) == 1  # and the file is whole again


def test_a_match_that_cannot_be_kept_is_still_a_match(master, tmp_path):
    (tmp_path / "vent_pki").write_text("a file where the directory goes")
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert len(master.asked) == 2


def test_without_vents_utils_the_module_says_what_to_sync(master, monkeypatch):
    monkeypatch.setattr(carried, "__utils__", {})
    assert carried.__virtual__() == (
        False, "Vent's salt/_utils are not on this minion: run saltutil.sync_utils")


def test_a_match_that_cannot_be_written_leaves_no_file_behind(master, tmp_path, monkeypatch):
    def full_disk(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(carried.os, "replace", full_disk)
    assert carried._match_minions(WORKERS, "worker-0") is True
    assert list((tmp_path / "vent_pki").iterdir()) == []


def test_no_answer_from_the_master_fails_as_upstream_does(master):
    carried.__salt__["publish.runner"] = lambda fun, arg=None, timeout=5: None
    with pytest.raises(carried.CommandExecutionError, match="Could not check minion match"):
        carried._match_minions(WORKERS, "worker-0")


# --- a queued request to sign -------------------------------------------------------


def test_queueing_is_active_on_the_pinned_salt(master):
    # Fails when Salt's _query_remote changes: then check what it returns now.
    digest = carried.__utils__["vent_upstream.source_digest"](upstream._query_remote)
    assert digest == carried.QUERY_UPSTREAM_SOURCE, "Salt's x509_v2._query_remote is not the one carried"
    assert carried._query_remote is carried._query_remote_queued


def _signed(public_key, cn):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")]))
            .public_key(public_key).serial_number(7).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))


@pytest.fixture
def node(master, tmp_path, monkeypatch):
    """The carried module beside vent_pki on a node, sharing the state run's context
    as Salt's loader shares it; the CA minion's answers to the one request come from
    ``node.answer`` (a test double of vent_pki's request), each request through Salt's
    own publish.publish is recorded."""
    context, published, asked = {}, [], []
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "kubelet.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    cert = _signed(key.public_key(), "system:node:w0")

    def ask_double(ca_server, fun, arg, what):
        asked.append((ca_server, fun, arg))
        return [{"data": cert.public_bytes(serialization.Encoding.DER), "errors": []}]

    def publish_double(tgt, fun, arg=None, timeout=5):
        published.append((tgt, fun, arg))
        return {}

    monkeypatch.setattr(pki, "__context__", context, raising=False)
    monkeypatch.setattr(pki, "_ask", ask_double)
    monkeypatch.setattr(carried, "__context__", context, raising=False)
    carried.__salt__.update({"vent_pki.queued_certificate": pki.queued_certificate,
                             "publish.publish": publish_double})
    args = {"name": "/pki/kubelet.crt", "ca_server": "ca-0", "signing_policy": "vent-kubelet",
            "private_key": str(path), "CN": "system:node:w0", "subjectAltName": "DNS:w0",
            "days_valid": 365, "digest": "sha256"}
    return type("Node", (), {"args": args, "cert": cert, "asked": asked, "published": published})


def _as_the_state_asks(args):
    """x509.create_certificate called as x509_v2's certificate_managed calls it for a
    certificate it must create, with ``args`` (vent_pki.signing_args) as its arguments."""
    cert_args = {k: v for k, v in args.items() if k not in ("name", "days_valid", "digest", "private_key",
                                                             "ca_server", "signing_policy")}
    return carried.create_certificate(
        ca_server=args["ca_server"], signing_policy=args["signing_policy"], encoding="pem",
        append_certs=[], pkcs12_passphrase=None, pkcs12_encryption_compat=False,
        pkcs12_friendlyname=None, digest=args["digest"], signing_private_key=None,
        signing_private_key_passphrase=None, signing_cert=None, public_key=None,
        private_key=args["private_key"], private_key_passphrase=None, csr=None, subject=None,
        serial_number=None, not_before=None, not_after=None, days_valid=args["days_valid"],
        **cert_args)


def test_a_queued_certificate_is_the_answer_to_the_one_request(node):
    assert pki.queue_signing("ca-0", [node.args])["queued"] == ["/pki/kubelet.crt"]
    pem = _as_the_state_asks(node.args)
    assert x509.load_pem_x509_certificate(pem.encode()) == node.cert
    ((ca_server, fun, (requests,)),) = node.asked
    assert (ca_server, fun, [policy for policy, _ in requests]) == (
        "ca-0", "vent_pki.sign_remote_certificates", ["vent-kubelet"])
    assert node.published == []


def test_a_request_not_queued_and_a_policy_are_asked_of_the_ca_as_salt_does(node):
    with pytest.raises(carried.SaltInvocationError, match="ca_server did not respond"):
        _as_the_state_asks(node.args)
    with pytest.raises(carried.SaltInvocationError, match="ca_server did not respond"):
        carried.get_signing_policy("vent-kubelet", ca_server="ca-0")
    assert [(tgt, fun, arg[0], arg[2]) for tgt, fun, arg in node.published] == [
        ("ca-0", "x509.sign_remote_certificate", "vent-kubelet", False),
        ("ca-0", "x509.sign_remote_certificate", "vent-kubelet", True)]
    assert node.asked == []
