"""Where Vent does an upstream Salt function's work its own way, it checks that Salt's
function is still the one it was written against: the sha256 of its source. When Salt
changes it, Vent uses upstream's function and its unit tests fail, the signal to look
again."""

from __future__ import annotations

import hashlib
import inspect


def source_digest(*funcs):
    """sha256 of the functions' sources, None when Salt was installed without them."""
    try:
        return hashlib.sha256("".join(inspect.getsource(f) for f in funcs).encode()).hexdigest()
    except (OSError, TypeError):
        return None
