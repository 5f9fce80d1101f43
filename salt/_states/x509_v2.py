"""Salt's own x509_v2 states (``x509.*``) with two upstream defects fixed, carried here
until Salt has the fixes: docs/upstream/x509_v2-file-managed-pillar.md and
docs/upstream/x509_v2-private-key-loaded-twice.md.

Upstream checks each key's and certificate's mode and owner through
``__salt__["state.single"]("file.managed", ...)``, twice per state. In a job of
salt-minion every such call compiles the minion's pillar on the master again and loads
a fresh set of state modules: about 0.35 s a state with nothing to change, most of a
converged PKI run. The fix calls ``file.managed`` through ``__states__``, in the
running state system, as other state modules do.

Upstream also loads each private key twice in a run: ``private_key_managed`` to check
it, then ``certificate_managed`` to compare its public key with the certificate's.
cryptography checks an RSA key's consistency at every load, 0.05 s for 2048 bits and
0.33 s for 4096 (Vent's default) on a loaded 2-core host. Here a key file is loaded
once for each content it has during the module's life, a job: the states call
``x509util``, which is ``salt.utils.x509`` with that memory (``_KeysLoadedOnce``).

Everything else is the installed Salt's module, unchanged: its functions are bound to
this module's globals, so they see this module's dunders and its ``_file_managed``.
The file shadows Salt's ``states/x509_v2.py`` (a custom module of the same file name
wins in Salt's loader). When the installed ``_file_managed`` is not the one the fix
was written for (Salt fixed or changed it), nothing is replaced and the module is
upstream's as it stands.
"""

import hashlib
import logging
import os

import salt.states.x509_v2 as _upstream
import salt.utils.x509 as _x509util
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "x509"

# sha256 of the source of salt/states/x509_v2.py:_file_managed in Salt 3008.4, the
# function this module replaces.
FIXED_UPSTREAM_SOURCE = "468d57dee64e195afa7535536cc5036c76a76012ab5803e48b39f0d2297c1085"

# sha256 of the sources of salt/utils/x509.py:load_privkey, check_cert_changes,
# _build_cert_with_policy and build_crt in Salt 3008.4: a loaded key passes through
# load_privkey, and the others load the certificate's key only through it.
KEYS_UPSTREAM_SOURCE = "6b633d6174c201b0c374436d9788e51c7594fbf8d005e2835e7335c512a66a83"

_salt_own = {}  # Salt's functions bound to this module, which vent_upstream.carry fills


def __virtual__():
    if "vent_upstream.carry" not in __utils__:
        return False, "Vent's salt/_utils are not on this minion: run saltutil.sync_utils"
    digest = __utils__["vent_upstream.source_digest"](
        _x509util.load_privkey, _x509util.check_cert_changes, _x509util._build_cert_with_policy,
        _x509util.build_crt)
    if digest == KEYS_UPSTREAM_SOURCE:
        globals()["x509util"] = _KeysLoadedOnce()
    else:
        log.warning("salt.utils.x509 is not the one Vent's _KeysLoadedOnce was written for: running Salt's")
    return __utils__["vent_upstream.carry"](
        _upstream, globals(), {"_file_managed": (_file_managed_in_state_system, FIXED_UPSTREAM_SOURCE)})


class _KeysLoadedOnce:
    """``salt.utils.x509`` for upstream's states, which load a private key file once for
    each content it has: a key that changes is loaded again. A failed load is not kept."""

    def __init__(self):
        self._loaded = {}  # (sha256 of the file, passphrase) -> (key, encoding, None)

    def __getattr__(self, name):
        return getattr(_x509util, name)

    def load_privkey(self, pk, passphrase=None, get_encoding=False):
        if not (isinstance(pk, str) and os.path.isfile(pk)):
            return _x509util.load_privkey(pk, passphrase=passphrase, get_encoding=get_encoding)
        with open(pk, "rb") as fh:
            data = fh.read()
        memo = (hashlib.sha256(data).hexdigest(), passphrase)
        if memo not in self._loaded:
            self._loaded[memo] = _x509util.load_privkey(data, passphrase=passphrase, get_encoding=True)
        loaded = self._loaded[memo]
        return loaded if get_encoding else loaded[0]

    def check_cert_changes(self, *args, private_key=None, private_key_passphrase=None, **kwargs):
        if private_key is not None:
            try:
                private_key = self.load_privkey(private_key, passphrase=private_key_passphrase)
            except Exception as exc:  # noqa: BLE001 - upstream loads it where it did, and raises what it raised
                log.debug("x509_v2: %s is left for upstream to load: %s", private_key, exc)
        return _x509util.check_cert_changes(
            *args, private_key=private_key, private_key_passphrase=private_key_passphrase, **kwargs)


def _opts_reading_test():
    """The opts a file.managed run reads ``test`` from: its state module's (as
    Salt's own prerequisites set it) and file.check_perms's, which decides whether to
    change a file's mode and owner. Each is a loader's, the parent of its modules'
    ``__opts__``. None when the loader does not show them."""
    loaders = [getattr(__states__["file.managed"], "loader", None),
               getattr(__salt__["file.check_perms"], "loader", None)]
    every_opts = [getattr(loader, "opts", None) for loader in loaders]
    return None if None in every_opts else every_opts


def _file_managed_in_state_system(name, test=None, **kwargs):
    """``file.managed`` of ``name`` as upstream's ``_file_managed`` runs it (``test``
    None or True, the same return), without a new state system."""
    if test not in [None, True]:
        raise SaltInvocationError("test param can only be None or True")
    every_opts = _opts_reading_test()
    if every_opts is None:
        return _salt_own["_file_managed"](name, test=test, **kwargs)
    run_test = test or __opts__["test"]
    saved = [opts["test"] for opts in every_opts]
    for opts in every_opts:
        opts["test"] = run_test
    try:
        res = __states__["file.managed"](name, **kwargs)
    finally:
        for opts, value in zip(every_opts, saved, strict=True):
            opts["test"] = value
    if not isinstance(res, dict):
        raise CommandExecutionError(f"Failed running file.managed in x509_v2 state: {res}")
    return res

