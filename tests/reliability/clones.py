"""Two clones and a folder remote (as in tests/sync/conftest.py), and a teammate who
records whatever snapshot event they like: a malicious remote, or a modified tool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import blake3

from conftest import make_git_repo
from lineage.core import canonical as _canonical
from lineage.sync import push as sync_push


def make_clone(tmp_path: Path, name: str, remote_url: str):
    from lineage.sync import remotes
    from lineage.repo import Repo

    path = make_git_repo(tmp_path / name)
    repo, _ = Repo.init(path)
    remotes.add(repo, "origin", remote_url, default=True)
    return repo


def forge_snapshot(repo, dataset: str, path: str, files: dict[str, bytes], *, kind: str = "folder",
                   executable: bool = False, dirs: list[str] | None = None) -> str:
    """Store ``files`` and record a ``snapshot`` event at ``path`` with no check at all.

    The manifest is written in canonical form, so its ID is consistent: only the paths
    are hostile.
    """
    entries = []
    for rel, data in files.items():
        digest = repo.store.put_bytes(data)
        entries.append({"path": rel, "size": len(data), "digest": digest, "executable": executable})
    entries.sort(key=lambda e: e["path"].encode("utf-8"))
    manifest: dict[str, Any] = {"format": "lineage.manifest/1", "kind": kind, "files": entries}
    if dirs:
        manifest["dirs"] = dirs
    raw = _canonical.dumps(manifest)
    sid = blake3.blake3(raw).hexdigest()
    repo.store.put_bytes(raw, sid)
    body = {"snapshot_id": sid, "dataset": dataset, "path": path, "message": None,
            "user": repo.user, "host": repo.host, "git": {}, "stored": True, "manifest": manifest}
    repo.graph.append("snapshot", body, actor=repo.user)
    return sid


def push(repo) -> None:
    sync_push.push(repo)


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if ".lineage-tmp" in p.name)
