"""Snapshots: create, resolve, status, log, show, diff and checkout.

    >>> from lineage import snapshots
    >>> snapshots.create(repo, "data/train", name="train").id     # doctest: +SKIP

One module per verb: ``scan`` (walking a tree), ``add`` (``create``), ``status``,
``history`` (``log``, ``show``), ``diff``, ``checkout``, ``refs`` (``resolve``,
``load_manifest``, reference schemes) and ``hooks`` (what other features add to a
snapshot). ``manifest`` is the format, ``queries`` the SQL, ``aliases`` the ``alias``
event. The names below are re-exported here, each module imported when one of its names
is first used, so ``snapshots.scan`` is the function ``scan`` (also once the module
``lineage.snapshots.scan`` is imported); import that module with ``from ... import``.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from lineage.core import lazy as _lazy

if TYPE_CHECKING:
    from lineage.snapshots import hooks
    from lineage.snapshots.add import SnapshotResult, create, dataset_for_path, default_name
    from lineage.snapshots.checkout import CheckoutResult, checkout
    from lineage.snapshots.diff import WORKSPACE, Diff, compare, diff, diff_workspace, workspace_pairs
    from lineage.snapshots.diff import sides as diff_sides
    from lineage.snapshots.history import LogEntry, SnapshotInfo, log, show
    from lineage.snapshots.refs import load_manifest, register_scheme, resolve
    from lineage.snapshots.scan import SKIP_DIRS, FoundFile, ScanReport, scan, stat_key
    from lineage.snapshots.status import DatasetStatus, status

# imported on first use (PEP 562): ``lineage status`` loads the modules of status, not
# those of add, diff, checkout or history
_EXPORTS = {
    **{name: "lineage.snapshots.scan" for name in ("SKIP_DIRS", "FoundFile", "ScanReport", "scan", "stat_key")},
    **{name: "lineage.snapshots.refs" for name in ("load_manifest", "register_scheme", "resolve")},
    **{name: "lineage.snapshots.add" for name in ("SnapshotResult", "create", "dataset_for_path", "default_name")},
    **{name: "lineage.snapshots.status" for name in ("DatasetStatus", "status")},
    **{name: "lineage.snapshots.history" for name in ("LogEntry", "SnapshotInfo", "log", "show")},
    **{name: "lineage.snapshots.diff" for name in ("WORKSPACE", "Diff", "compare", "diff", "diff_workspace",
                                                    "workspace_pairs")},
    "diff_sides": "lineage.snapshots.diff:sides",
    **{name: "lineage.snapshots.checkout" for name in ("CheckoutResult", "checkout")},
}
_getattr, __dir__ = _lazy.exports(__name__, {**_EXPORTS, "hooks": f"{__name__}.hooks"})


def __getattr__(name: str) -> Any:
    if name == "hooks":  # a module, not a name in one
        return importlib.import_module(f"{__name__}.hooks")
    return _getattr(name)


class _Package(types.ModuleType):
    """Importing the module ``lineage.snapshots.scan`` binds the package's name ``scan`` to
    that module; here the name stays the function it re-exports (as do ``status``, ``diff``
    and ``checkout``), whichever is imported first."""

    def __setattr__(self, name: str, value: Any) -> None:
        if (isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__
                and value.__name__ == f"{self.__name__}.{name}"):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "SKIP_DIRS",
    "WORKSPACE",
    "CheckoutResult",
    "DatasetStatus",
    "Diff",
    "FoundFile",
    "LogEntry",
    "ScanReport",
    "SnapshotInfo",
    "SnapshotResult",
    "checkout",
    "compare",
    "create",
    "dataset_for_path",
    "default_name",
    "diff",
    "diff_sides",
    "diff_workspace",
    "hooks",
    "load_manifest",
    "log",
    "register_scheme",
    "resolve",
    "scan",
    "show",
    "stat_key",
    "status",
    "workspace_pairs",
]
