"""Re-exports that cost nothing until used (PEP 562).

A feature package re-exports its public names from its modules; importing one module
of the package (``lineage.runs.projector``, when the log loads its projectors) must not
import all the others, or every hook would pay for the whole feature.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def exports(package: str, names: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, resolving ``name`` from
    ``names[name]`` (a module path, or ``module:attribute`` when the names differ)."""

    def __getattr__(name: str) -> Any:
        where = names.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = where.partition(":")
        value = getattr(importlib.import_module(module), attr or name)
        globals_of(package)[name] = value  # the next access is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted(set(globals_of(package)) | set(names))

    return __getattr__, __dir__


def globals_of(package: str) -> dict[str, Any]:
    return vars(sys.modules[package])
