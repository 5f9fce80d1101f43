"""Vent as a Salt extension: Salt's loader finds ``modules``, ``runners``, ``states``,
``utils``, ``output`` and ``clouds`` under this package (entry point ``salt.loader``).

The wheel maps those sub-packages onto the repository's ``salt/_modules``,
``salt/_runners``, ... directories (pyproject.toml), so the checkout and the package
carry one copy of each file."""

import importlib

__version__ = "0.1.0"


def util(name, opts):
    """``vent_<module>.<function>`` of the packaged utils.

    Salt 3008 loads no extension's utils (``salt.loader.utils`` skips entry points), so
    the packaged modules, runners and states import them here instead of reading
    ``__utils__``; ``opts`` is what the loader would have packed as ``__opts__``."""
    module, fun = name.split(".")
    found = importlib.import_module(f"{__name__}.utils.{module}")
    found.__opts__ = opts
    return getattr(found, fun)
