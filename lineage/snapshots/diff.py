"""Files added, removed and changed between two snapshots (``diff --rows``: lineage.tabular)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from lineage.repo import Repo
from lineage.snapshots.refs import load_manifest, resolve


@dataclass(frozen=True)
class Diff:
    a: str
    b: str
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    modified: list[dict[str, Any]]
    unchanged: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diff(repo: Repo, a: str, b: str) -> Diff:
    """Files added, removed and changed from snapshot ``a`` to snapshot ``b``."""
    ida, idb = resolve(repo, a), resolve(repo, b)
    ma, mb = load_manifest(repo, ida).by_path(), load_manifest(repo, idb).by_path()
    added = [mb[p].to_dict() for p in sorted(mb) if p not in ma]
    removed = [ma[p].to_dict() for p in sorted(ma) if p not in mb]
    modified = [
        {"path": p, "size_a": ma[p].size, "size_b": mb[p].size, "digest_a": ma[p].digest,
         "digest_b": mb[p].digest}
        for p in sorted(ma) if p in mb and (ma[p].digest, ma[p].executable) != (mb[p].digest, mb[p].executable)
    ]
    unchanged = len(ma) - len(removed) - len(modified)
    return Diff(ida, idb, added, removed, modified, unchanged)

