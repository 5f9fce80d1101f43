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
``x509util``, which is ``salt.utils.x509`` with that memory
(``vent_upstream.keys_loaded_once``).

Everything else is the installed Salt's module, unchanged: its functions are bound to
this module's globals, so they see this module's dunders and its ``_file_managed``.
The file shadows Salt's ``states/x509_v2.py`` (a custom module of the same file name
wins in Salt's loader). When the installed ``_file_managed`` is not the one the fix
was written for (Salt fixed or changed it), nothing is replaced and the module is
upstream's as it stands.
"""

import logging

import salt.states.x509_v2 as _upstream
from salt.exceptions import CommandExecutionError, SaltInvocationError

log = logging.getLogger(__name__)

__virtualname__ = "x509"

# sha256 of the source of salt/states/x509_v2.py:_file_managed in Salt 3008.4, the
# function this module replaces.
FIXED_UPSTREAM_SOURCE = "468d57dee64e195afa7535536cc5036c76a76012ab5803e48b39f0d2297c1085"

_salt_own = {}  # Salt's functions bound to this module, which vent_upstream.carry fills


def __virtual__():
    if "vent_upstream.carry" not in __utils__:
        return False, "Vent's salt/_utils are not on this minion: run saltutil.sync_utils"
    globals()["x509util"] = __utils__["vent_upstream.keys_loaded_once"]()
    return __utils__["vent_upstream.carry"](
        _upstream, globals(), {"_file_managed": (_file_managed_in_state_system, FIXED_UPSTREAM_SOURCE)})


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

