"""Where Vent does an upstream Salt function's work its own way, it checks that Salt's
function is still the one it was written against: the sha256 of its source. When Salt
changes it, Vent uses upstream's function and its unit tests fail, the signal to look
again."""

from __future__ import annotations

import hashlib
import inspect
import logging
import types

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
