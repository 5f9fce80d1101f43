"""Where Vent does an upstream Salt function's work its own way, it checks that Salt's
function is still the one it was written against: the sha256 of its source. When Salt
changes it, Vent uses upstream's function and its unit tests fail, the signal to look
again."""

from __future__ import annotations

import hashlib
import inspect
import types


def source_digest(*funcs):
    """sha256 of the functions' sources, None when Salt was installed without them."""
    try:
        return hashlib.sha256("".join(inspect.getsource(f) for f in funcs).encode()).hexdigest()
    except (OSError, TypeError):
        return None


def carry(upstream, namespace, own=()):
    """Make a module that shadows Salt's ``upstream`` module (the same file name, which
    wins in Salt's loader) Salt's module: each of upstream's functions rebound to
    ``namespace`` (the shadow's globals), so it sees the dunders Salt's loader packed
    into the shadow and the functions ``own`` names, which the shadow keeps; and
    upstream's imports and constants. Called from the shadow's ``__virtual__``, the
    first moment the packed dunders are there. Returns every upstream function
    rebound, ``own`` ones included, for the shadow's functions to call."""
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
            if name not in own and name != "__virtual__":
                namespace[name] = copy
        elif name not in namespace:
            namespace[name] = value
    return rebound
