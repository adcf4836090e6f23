"""The built-in features that plug into the layers below them.

Importing a module below registers what it adds: migrations (``@migration``),
projectors (``@projector``), reference providers (``@reference_provider``), snapshot
hooks (``snapshots.hooks.register``) and reference schemes
(``snapshots.refs.register_scheme``). The log names no feature: this module installs
its loaders there (``lineage`` imports it), and the log calls them before it counts
migrations, folds events or asks what to keep. Importing the features then, not at
start-up, keeps ``lineage --help`` and ``lineage-hook`` fast.
"""

from __future__ import annotations

from lineage.log import migrations, registry

_loaded = False


def load_migrations() -> None:
    """Import the modules that register migrations (all a graph needs to open)."""
    from lineage.runs import m0002_runs  # noqa: F401
    from lineage.tabular import m0003_tabular, m0010_rows_key  # noqa: F401
    from lineage.snapshots import m0005_aliases, m0009_forget, m0011_references  # noqa: F401
    from lineage.audit import m0006_audit, m0008_waivers  # noqa: F401


def load() -> None:
    """Import every module that registers a plug-in (once)."""
    global _loaded
    if _loaded:
        return
    load_migrations()
    # projectors and reference providers
    from lineage.runs import projector as _runs  # noqa: F401
    from lineage.tabular import projector as _tabular  # noqa: F401
    from lineage.snapshots import aliases, forget, reference  # noqa: F401
    from lineage.audit import queries  # noqa: F401
    # the tabular snapshot hook, the ``md5:`` reference scheme of imported DVC outputs
    from lineage.tabular import snapshot_hook  # noqa: F401
    from lineage.interop import dvc  # noqa: F401
    # the Spark engine of ``--engine spark`` (pyspark itself is imported only when used)
    from lineage.interop import spark  # noqa: F401

    _loaded = True


migrations.set_loader(load_migrations)
registry.set_loader(load)
