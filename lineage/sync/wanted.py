"""What a push or fetch moves: the objects of the snapshots named, or of the whole log."""

from __future__ import annotations

from collections.abc import Iterable

from lineage import snapshots as snap
from lineage.errors import UnknownRefError, UsageError
from lineage.log.references import referenced_digests
from lineage.repo import Repo


def wanted(repo: Repo, ids: Iterable[str] | None,
           paths: list[str] | None = None) -> tuple[set[str], list[str]]:
    """(digests, snapshot IDs) for the given references, or everything the log references.

    ``paths`` narrows each snapshot to those files or folders.
    """
    ids = list(ids or [])
    if not ids:
        if paths:
            raise UsageError("--path needs a snapshot ID or dataset name")
        return referenced_digests(repo.graph), []
    digests: set[str] = set()
    sids: list[str] = []
    for ref in ids:
        sid = snap.resolve(repo, ref)
        sids.append(sid)
        digests.add(sid)
        manifest = snap.load_manifest(repo, sid)
        entries = manifest.entries
        if paths:
            chosen = [p.strip("/") for p in paths]
            entries = tuple(e for e in entries if any(e.path == p or e.path.startswith(p + "/") for p in chosen))
            if not entries:
                raise UnknownRefError(f"none of {sorted(chosen)} is in snapshot {sid[:12]}")
        digests.update(e.digest for e in entries)
    return digests, sids
