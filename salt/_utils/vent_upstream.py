"""Where Vent does an upstream Salt function's work its own way, it checks that Salt's
function is still the one it was written against: the sha256 of its source. When Salt
changes it, Vent uses upstream's function and its unit tests fail, the signal to look
again."""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import types

import salt.utils.x509

log = logging.getLogger(__name__)


def source_digest(*funcs):
    """sha256 of the functions' sources, None when Salt was installed without them."""
    try:
        return hashlib.sha256("".join(inspect.getsource(f) for f in funcs).encode()).hexdigest()
    except (OSError, TypeError):
        return None


def carry(upstream, namespace, replace):
    """Make a module that shadows Salt's ``upstream`` module (the same file name, which
    wins in Salt's loader) Salt's module, from the shadow's ``__virtual__``, the first
    moment the dunders Salt's loader packs into it are there. Each of upstream's
    functions is rebound to ``namespace`` (the shadow's globals) so it sees them, and
    kept in ``namespace["_salt_own"]`` for the shadow's functions to call; upstream's
    imports and constants come along. ``replace``: ``{name: (function, sha256)}``, the
    shadow's function put in place of upstream's ``name`` while upstream's source is the
    one it was written against; else upstream's stays and a warning says so. Returns
    what upstream's ``__virtual__`` returns."""
    rebound = {}
    for name, value in vars(upstream).items():
        if name.startswith("__") and name != "__virtual__":
            continue  # the module's identity and the dunders Salt's loader packs
        if isinstance(value, types.FunctionType) and value.__module__ == upstream.__name__:
            copy = types.FunctionType(value.__code__, namespace, value.__name__, value.__defaults__,
                                      value.__closure__)
            copy.__kwdefaults__ = value.__kwdefaults__
            copy.__doc__ = value.__doc__
            copy.__qualname__ = value.__qualname__
            rebound[name] = copy
            if name != "__virtual__":
                namespace[name] = copy
        elif name not in namespace:
            namespace[name] = value
    namespace["_salt_own"] = rebound
    for name, (function, digest) in replace.items():
        if source_digest(getattr(upstream, name)) == digest:
            namespace[name] = function
        else:
            log.warning("%s.%s is not the one Vent's %s was written for: running Salt's",
                        upstream.__name__, name, function.__name__)
    return rebound["__virtual__"]()


# sha256 of the sources of salt/utils/x509.py:load_privkey, check_cert_changes,
# _build_cert_with_policy and build_crt in Salt 3008.4: a loaded key passes through
# load_privkey, and the others load a certificate's keys only through it.
KEYS_UPSTREAM_SOURCE = "6b633d6174c201b0c374436d9788e51c7594fbf8d005e2835e7335c512a66a83"


def keys_loaded_once():
    """``salt.utils.x509`` for the x509_v2 modules Vent carries (their ``x509util``), with
    each private key loaded once for each content it has: cryptography checks an RSA key
    at every load, 0.33 s of CPU for 4096 bits, and upstream loads the same key several
    times in a job (docs/upstream/x509_v2-private-key-loaded-twice.md). Salt's module
    itself when its functions are not the ones this was written for."""
    x509util = salt.utils.x509
    if source_digest(x509util.load_privkey, x509util.check_cert_changes,
                     x509util._build_cert_with_policy, x509util.build_crt) != KEYS_UPSTREAM_SOURCE:
        log.warning("salt.utils.x509 is not the one Vent's key memory was written for: running Salt's")
        return x509util
    return _KeysLoadedOnce(x509util)


class _KeysLoadedOnce:
    """Keys are kept by the sha256 of what was loaded (a key file's content, or PEM text)
    and the passphrase, as long as this object lives: a job's loaded module. A key that
    changes is loaded again; a failed load is not kept."""

    def __init__(self, x509util):
        self._x509util = x509util
        self._loaded = {}  # (sha256, passphrase) -> (key, encoding, None)

    def __getattr__(self, name):
        return getattr(self._x509util, name)

    def load_privkey(self, pk, passphrase=None, get_encoding=False):
        if isinstance(pk, str) and os.path.isfile(pk):
            with open(pk, "rb") as fh:
                data = fh.read()
        elif isinstance(pk, bytes) and self._x509util.PEM_BEGIN in pk:
            data = pk
        elif isinstance(pk, str) and self._x509util.PEM_BEGIN.decode() in pk:
            data = pk.encode()
        else:
            return self._x509util.load_privkey(pk, passphrase=passphrase, get_encoding=get_encoding)
        memo = (hashlib.sha256(data).hexdigest(), passphrase)
        if memo not in self._loaded:
            self._loaded[memo] = self._x509util.load_privkey(data, passphrase=passphrase, get_encoding=True)
        loaded = self._loaded[memo]
        return loaded if get_encoding else loaded[0]

    def _loaded_or_as_given(self, key, passphrase):
        """``key`` loaded through the memory, or as given when that fails: upstream then
        loads it where it always did, and raises what it always raised."""
        if key is None:
            return None
        try:
            return self.load_privkey(key, passphrase=passphrase)
        except Exception as exc:  # noqa: BLE001
            log.debug("x509_v2: a key is left for upstream to load: %s", exc)
            return key

    def check_cert_changes(self, *args, private_key=None, private_key_passphrase=None, **kwargs):
        return self._x509util.check_cert_changes(
            *args, private_key=self._loaded_or_as_given(private_key, private_key_passphrase),
            private_key_passphrase=private_key_passphrase, **kwargs)

    def build_crt(self, signing_private_key, skip_load_signing_private_key=False,
                  signing_private_key_passphrase=None, private_key=None, private_key_passphrase=None,
                  **kwargs):
        if not skip_load_signing_private_key:
            signing_private_key = self._loaded_or_as_given(
                signing_private_key, signing_private_key_passphrase)
        return self._x509util.build_crt(
            signing_private_key, skip_load_signing_private_key=skip_load_signing_private_key,
            signing_private_key_passphrase=signing_private_key_passphrase,
            private_key=self._loaded_or_as_given(private_key, private_key_passphrase),
            private_key_passphrase=private_key_passphrase, **kwargs)
