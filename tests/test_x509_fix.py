"""The x509_v2 fixes Vent carries (salt/_states/x509_v2.py): they are active on the
pinned Salt, the states are Salt's own, file.managed runs in the running state system
with ``test`` set where file.managed and file.check_perms read it, and reset after, and
a private key file is loaded once for each content it has. The states' behaviour on
real files is tested on real minions in test_pki.py."""

from __future__ import annotations

import types

import pki_for_tests
import pytest
import salt.states.x509_v2 as upstream
import salt.utils.x509 as x509util
from conftest import load_salt_module
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from salt.exceptions import CommandExecutionError, SaltInvocationError

from ventlab.model import util

fix = load_salt_module("salt/_states/x509_v2.py", "x509_v2_fix_under_test")
vent_upstream = util("vent_upstream")  # the one the module's __utils__ reaches
fix.__opts__ = {"features": {}}
VIRTUAL = fix.__virtual__()  # as Salt's loader calls it, with the dunders packed


class LoaderDouble:
    """What a Salt loader shows of itself: the opts its modules read."""

    def __init__(self, test):
        self.opts = {"test": test}


class LoadedFuncDouble:
    def __init__(self, loader, body=None):
        self.loader, self.body, self.seen = loader, body, []

    def __call__(self, *args, **kwargs):
        self.seen.append((args, kwargs))
        return self.body(*args, **kwargs)


def _wire(run_test=False, answer=None):
    """The module's dunders as a state run would have them; returns the state and
    execution loaders and the file.managed double, which records the ``test`` each
    loader's opts held while it ran."""
    states_loader, exec_loader = LoaderDouble(run_test), LoaderDouble(run_test)
    during = []

    def file_managed(name, **kwargs):
        during.append((states_loader.opts["test"], exec_loader.opts["test"]))
        return answer if answer is not None else {"name": name, "result": True, "changes": {},
                                                  "comment": "ok"}

    managed = LoadedFuncDouble(states_loader, file_managed)
    fix.__opts__ = {"test": run_test}
    fix.__states__ = {"file.managed": managed}
    fix.__salt__ = {"file.check_perms": LoadedFuncDouble(exec_loader)}
    return states_loader, exec_loader, managed, during


def test_the_fix_is_active_on_the_pinned_salt():
    # Fails when Salt's _file_managed changes: then check whether upstream fixed it.
    digest = fix.__utils__["vent_upstream.source_digest"](upstream._file_managed)
    assert digest == fix.FIXED_UPSTREAM_SOURCE, "Salt's x509_v2._file_managed is not the one the fix replaces"
    assert fix._file_managed is fix._file_managed_in_state_system
    assert fix._salt_own["_file_managed"].__code__ is upstream._file_managed.__code__


def test_every_state_is_salts_own_bound_to_this_module():
    for name in ("certificate_managed", "private_key_managed", "csr_managed", "crl_managed",
                 "pem_managed"):
        ours, theirs = getattr(fix, name), getattr(upstream, name)
        assert ours.__code__ is theirs.__code__, name
        assert ours.__globals__ is vars(fix), name
    assert (fix.__virtualname__, VIRTUAL) == ("x509", "x509")
    assert isinstance(fix._add_sub_state_run, types.FunctionType)


@pytest.mark.parametrize(("run_test", "test", "expected"), [
    (False, True, True),   # the probe of a real run: nothing may change
    (False, None, False),  # the real call of a real run
    (True, None, True),    # a test run stays one
])
def test_file_managed_runs_with_test_on_both_loaders_then_resets_them(run_test, test, expected):
    states_loader, exec_loader, managed, during = _wire(run_test)
    ret = fix._file_managed("/etc/vent/pki/a.key", test=test, replace=False, mode="0600")
    assert ret == {"name": "/etc/vent/pki/a.key", "result": True, "changes": {}, "comment": "ok"}
    assert during == [(expected, expected)]
    assert managed.seen == [(("/etc/vent/pki/a.key",), {"replace": False, "mode": "0600"})]
    assert (states_loader.opts["test"], exec_loader.opts["test"]) == (run_test, run_test)


def test_opts_are_reset_when_file_managed_raises():
    states_loader, exec_loader, managed, _ = _wire(False)

    def boom(name, **kwargs):
        raise CommandExecutionError("disk gone")

    managed.body = boom
    with pytest.raises(CommandExecutionError, match="disk gone"):
        fix._file_managed("/x", test=True)
    assert (states_loader.opts["test"], exec_loader.opts["test"]) == (False, False)


def test_bad_test_value_and_bad_answer_are_refused_as_upstream_does():
    _wire(False)
    with pytest.raises(SaltInvocationError, match="test param can only be None or True"):
        fix._file_managed("/x", test=False)
    _wire(False, answer="file.managed is not available")
    with pytest.raises(CommandExecutionError, match="Failed running file.managed in x509_v2 state"):
        fix._file_managed("/x")


def test_without_loaders_to_reach_it_falls_back_to_upstreams_state_single():
    _wire(False)
    calls = []
    fix.__salt__ = {"file.check_perms": lambda *a, **k: None,  # no loader shown
                    "state.single": lambda fun, name, **kw: calls.append((fun, name, kw)) or
                    {"file_|-x": {"name": name, "result": True}}}
    assert fix._file_managed("/x", test=True, mode="0600") == {"name": "/x", "result": True}
    assert calls == [("file.managed", "/x", {"test": True, "concurrent": True, "mode": "0600"})]


def test_the_key_memory_is_active_on_the_pinned_salt():
    # Fails when Salt's load_privkey, check_cert_changes or build_crt change: then check
    # that a loaded key still passes through them, or whether upstream loads it once.
    digest = vent_upstream.source_digest(
        x509util.load_privkey, x509util.check_cert_changes, x509util._build_cert_with_policy,
        x509util.build_crt)
    assert digest == vent_upstream.KEYS_UPSTREAM_SOURCE, "salt.utils.x509 is not the one it was written for"
    assert isinstance(fix.x509util, vent_upstream._KeysLoadedOnce)
    assert fix.x509util.split_file_kwargs is x509util.split_file_kwargs  # the rest is Salt's
    carried = load_salt_module("salt/_modules/x509_v2.py", "x509_v2_module_memory_under_test")
    carried.__opts__ = {}
    carried.__virtual__()
    assert isinstance(carried.x509util, vent_upstream._KeysLoadedOnce)


@pytest.fixture
def node_pki(tmp_path, monkeypatch):
    """A CA, a node key and its certificate on disk, and the PEM bytes of every private
    key cryptography loaded since."""
    ca_cert, ca_key = pki_for_tests.write_ca(tmp_path / "ca.crt")
    pki_for_tests.write_key(tmp_path / "ca.key", ca_key)
    crt, key = pki_for_tests.cert("node-0", ca_cert, ca_key)
    pki_for_tests.write_key(tmp_path / "node.key", key)
    pki_for_tests.write_cert(tmp_path / "node.crt", crt)
    loads = []
    real = serialization.load_pem_private_key

    def counted(data, *args, **kwargs):
        loads.append(bytes(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(serialization, "load_pem_private_key", counted)
    return tmp_path, loads


def _check(util, pki):
    """``check_cert_changes`` as x509.certificate_managed calls it, signing locally."""
    return util.check_cert_changes(
        str(pki / "node.crt"), days_remaining=0, days_valid=1, not_before=None, not_after=None,
        ca_server=None, signing_policy_contents={}, encoding="pem", append_certs=[],
        digest="sha256", signing_private_key=str(pki / "ca.key"), signing_cert=str(pki / "ca.crt"),
        private_key=str(pki / "node.key"), subject="CN=node-0", basicConstraints="critical, CA:FALSE")


def test_a_key_file_is_loaded_once_for_both_states_that_read_it(node_pki):
    pki, loads = node_pki
    memory = vent_upstream.keys_loaded_once()
    node_pem = (pki / "node.key").read_bytes()
    # x509.private_key_managed reads the key, then x509.certificate_managed compares it.
    key, encoding, _ = memory.load_privkey(str(pki / "node.key"), get_encoding=True)
    assert encoding == "pem"
    ours = _check(memory, pki)
    assert loads.count(node_pem) == 1
    assert ours[3] is key  # the key check_cert_changes used is the one loaded first
    # The answer is upstream's, which loads the key again.
    theirs = _check(x509util, pki)
    assert loads.count(node_pem) == 2
    assert (ours[1], ours[2]) == (theirs[1], theirs[2])
    assert ours[3].public_key() == theirs[3].public_key()


def test_a_key_that_changes_is_loaded_again_and_a_failed_load_is_not_kept(node_pki):
    pki, loads = node_pki
    memory = vent_upstream.keys_loaded_once()
    path = pki / "node.key"
    first = memory.load_privkey(str(path))
    _, other = pki_for_tests.cert("node-0", None, None)
    pki_for_tests.write_key(path, other)
    assert memory.load_privkey(str(path)).public_key() == other.public_key() != first.public_key()
    path.write_text("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    for _ in range(2):
        with pytest.raises(x509util.PrivDeserializationError):
            memory.load_privkey(str(path))
    assert len(loads) == 4  # each broken read tried again
    # A key check_cert_changes cannot load first is left to upstream, which raises as ever.
    with pytest.raises(x509util.PrivDeserializationError):
        _check(memory, pki)


def test_the_ca_key_of_a_signing_policy_is_loaded_once_for_the_certificates_of_a_job(node_pki):
    """The CA minion signs a node's certificates in one job (vent_pki.sign_remote_certificates):
    x509_v2's create_certificate builds each with the policy's CA key, PEM from pillar."""
    pki, loads = node_pki
    memory = vent_upstream.keys_loaded_once()
    ca_pem = (pki / "ca.key").read_text()
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.crt").read_bytes())
    for cn in ("node-0", "node-1", "node-2"):
        builder, signing_key, node_key, _ = memory.build_crt(
            ca_pem, signing_cert=str(pki / "ca.crt"), private_key=str(pki / "node.key"),
            subject=f"CN={cn}", days_valid=1)
        cert = builder.sign(signing_key, hashes.SHA256())
        cert.verify_directly_issued_by(ca_cert)
        assert cert.public_key() == node_key.public_key()
    assert loads.count(ca_pem.encode()) == 1
    assert loads.count((pki / "node.key").read_bytes()) == 1
