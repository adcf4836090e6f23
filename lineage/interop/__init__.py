"""Interoperability: OpenLineage and W3C PROV export, DVC import.

    openlineage.export(repo, run_ids)   -> OpenLineage 2-0-2 RunEvents (dicts)
    prov.export(repo, run_ids | None)   -> a W3C PROV document (PROV-JSON)
    dvc.import_repo(repo, path)         -> DVC outputs as snapshots, stages as runs

The ``openlineage``, ``prov`` and ``dvc`` packages are imported only inside the
functions that need them (extra ``lineage[interop]``).
"""

from __future__ import annotations

import os
import tempfile

from lineage.errors import PathError

INTEROP_HINT = "install lineage[interop]"


def write_text_atomic(path: str, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (temp file in the same folder, rename)."""
    target = os.path.abspath(path)
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise PathError(f"no such folder: {folder}")
    if os.path.isdir(target):
        raise PathError(f"{path} is a folder; give a file name")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lineage-export-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
