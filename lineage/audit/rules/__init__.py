"""Audit rules: the registry (``registry``) and the built-in rules, one module per family.

Importing the package registers the built-ins, exactly as a plug-in's rules register;
``load()`` adds the plug-ins of the ``lineage.rules`` entry-point group. A rule uses
only the ``RuleContext`` it is given (``lineage.audit.protocol``).
"""

from __future__ import annotations

from lineage.audit.protocol import RuleContext, RunView
from lineage.audit.rules.registry import (ENTRY_POINT_GROUP, Finding, Rule, Severity, catalogue, load,
                                          register)

# the built-in rules register at import, in this order
from lineage.audit.rules import hygiene, heldout, overlap, reuse, drift, coverage  # noqa: F401, I001

__all__ = ["ENTRY_POINT_GROUP", "Finding", "Rule", "RuleContext", "RunView", "Severity", "catalogue",
           "load", "register"]
