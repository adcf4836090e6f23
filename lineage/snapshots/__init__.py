"""Snapshots: create, resolve, status, log, show, diff and checkout.

    >>> from lineage import snapshots
    >>> snapshots.create(repo, "data/train", name="train").id     # doctest: +SKIP

One module per verb: ``scan`` (walking a tree), ``add`` (``create``), ``status``,
``history`` (``log``, ``show``), ``diff``, ``checkout``, ``refs`` (``resolve``,
``load_manifest``, reference schemes) and ``hooks`` (what other features add to a
snapshot). ``manifest`` is the format, ``queries`` the SQL, ``aliases`` the ``alias``
event. The names below are re-exported here, so ``snapshots.scan`` is the function
``scan``; import the module as ``lineage.snapshots.scan`` with ``from ... import``.
"""

from __future__ import annotations

from lineage.snapshots.scan import SKIP_DIRS, FoundFile, ScanReport, scan, stat_key
from lineage.snapshots.refs import load_manifest, register_scheme, resolve
from lineage.snapshots.add import SnapshotResult, create, dataset_for_path, default_name
from lineage.snapshots.status import DatasetStatus, status
from lineage.snapshots.history import LogEntry, SnapshotInfo, log, show
from lineage.snapshots.diff import WORKSPACE, Diff, compare, diff, diff_workspace, workspace_pairs
from lineage.snapshots.diff import sides as diff_sides
from lineage.snapshots.checkout import CheckoutResult, checkout
from lineage.snapshots import hooks

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
