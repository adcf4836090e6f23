"""Tabular awareness: schemas, column profiles, stable row fingerprints, MinHash signatures.

The loading API below is what audit rules build on; it is stable (see docs/tabular.md).

    >>> fps = load_fingerprints(repo, "train@latest")       # doctest: +SKIP
    >>> fps.column_names
    ['file', 'row', 'fp', 'fp_features', 'group', 'time', 'label']

Modules: ``readers`` (streaming record batches, bounded by ``limits``), ``rowhash``
(the fingerprint scheme), ``profile``, ``compute`` (one pass per file), ``load`` (the
API below), ``report`` (``show --schema``, ``diff --rows``), ``drift``, ``neardup``.
Importing the package registers ``snapshot_hook`` with ``lineage.snapshots.hooks``.
Heavy modules (pyarrow, numpy, datasketch) are imported inside the functions.
"""

from __future__ import annotations

from lineage.errors import LimitExceeded, TabularReadError
from lineage.tabular import snapshot_hook  # noqa: F401 - registers the snapshot hook

__all__ = [
    "NOT_FINGERPRINTED_KEY",
    "SCHEME",
    "SCHEME_NAME",
    "TEXT_MAX_BYTES",
    "TEXT_SUFFIXES",
    "LimitExceeded",
    "TabularFile",
    "TabularReadError",
    "describe",
    "file_records",
    "is_tabular",
    "jensen_shannon",
    "ks_from_profiles",
    "load_fingerprints",
    "load_minhash",
    "load_profiles",
    "merge_profiles",
    "not_fingerprinted",
    "psi",
    "row_diff",
    "snapshot_declarations",
    "wasserstein_from_profiles",
]

from lineage.core import lazy as _lazy  # noqa: E402

# imported on first use: loading one module of the package (its projector, when the log
# opens) must not load the whole feature
_EXPORTS = {
    "jensen_shannon": "lineage.tabular.drift",
    "ks_from_profiles": "lineage.tabular.drift",
    "psi": "lineage.tabular.drift",
    "wasserstein_from_profiles": "lineage.tabular.drift",
    "NOT_FINGERPRINTED_KEY": "lineage.tabular.load",
    "TEXT_MAX_BYTES": "lineage.tabular.load",
    "TEXT_SUFFIXES": "lineage.tabular.load",
    "TabularFile": "lineage.tabular.load",
    "file_records": "lineage.tabular.load",
    "load_fingerprints": "lineage.tabular.load",
    "load_minhash": "lineage.tabular.load",
    "load_profiles": "lineage.tabular.load",
    "not_fingerprinted": "lineage.tabular.load",
    "snapshot_declarations": "lineage.tabular.load",
    "merge_profiles": "lineage.tabular.profile",
    "is_tabular": "lineage.tabular.readers",
    "describe": "lineage.tabular.report",
    "row_diff": "lineage.tabular.report",
    "SCHEME": "lineage.tabular.rowhash",
    "SCHEME_NAME": "lineage.tabular.rowhash",
}
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
