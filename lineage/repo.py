"""A lineage repository: the ``.lineage/`` folder and the handles it opens.

``.lineage/`` sits at the root of the enclosing git work tree (or the folder
``init`` ran in, outside git) and holds ``config.toml``, the object store
(``objects/``, ``packs/``, ``tmp/``, and ``unflushed/``: the journals of objects not
yet known to be on disk), the lineage database ``lineage.db`` and the local stat
cache ``state.db``. Its ``.gitignore`` keeps everything but the config out of git.
``lineage.lock`` at the root (``lineage.snapshots.lock``) is meant to be committed.
"""

from __future__ import annotations

import os
import tomllib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from lineage import config as _config
from lineage.core import git as gitinfo
from lineage.errors import ConfigError, NotInitializedError, PathError, StoreRecoveryWarning
from lineage.log import Graph
from lineage.store import LinkMode, ObjectStore
from lineage.store.durability import Durability
from lineage.store.statcache import StatCache

DIRNAME = ".lineage"
GITIGNORE = """\
# lineage: everything here but the config stays out of git (objects, packs, databases,
# caches, locks, temporary files); lineage.lock at the repository root is committed
/*
!/.gitignore
!/config.toml
"""
#: The first line of every .gitignore lineage wrote: ``init`` brings an older one up to date.
_GITIGNORE_MARK = "# lineage:"


@dataclass
class InitResult:
    root: str
    created: bool
    git: bool

    def to_dict(self) -> dict[str, Any]:
        return {"root": self.root, "created": self.created, "git": self.git}


class Repo:
    """An open repository. Handles (graph, store, stat cache) open on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / DIRNAME

    # -- discovery ----------------------------------------------------------------
    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Repo:
        """The repository holding ``start`` (default: the current folder).

        ``LINEAGE_DIR`` in the environment names the workspace root explicitly.
        """
        env = os.environ.get("LINEAGE_DIR")
        if env and start is None:
            root = Path(env).resolve()
            if (root / DIRNAME).is_dir():
                return cls(root)
            raise NotInitializedError(f"LINEAGE_DIR={env} holds no .lineage/ folder; run 'lineage init' there")
        here = Path(start or os.getcwd()).resolve()
        for folder in (here, *here.parents):
            if (folder / DIRNAME).is_dir():
                return cls(folder)
        raise NotInitializedError("not a lineage repository (no .lineage/ here or above); run 'lineage init'")

    @classmethod
    def init(cls, path: str | os.PathLike[str] | None = None) -> tuple[Repo, InitResult]:
        """Create ``.lineage/`` at the git root holding ``path`` (or at ``path``). Idempotent."""
        start = Path(path or os.getcwd()).resolve()
        if not start.is_dir():
            raise PathError(f"not a folder: {start}")
        top = gitinfo.toplevel(start)
        root = top or start
        repo = cls(root)
        created = not repo.dir.is_dir()
        repo.dir.mkdir(exist_ok=True)
        repo.store.ensure()
        ignore = repo.dir / ".gitignore"
        try:
            written = ignore.read_text()
        except FileNotFoundError:
            written = None
        if written is None or (written != GITIGNORE and written.startswith(_GITIGNORE_MARK)):
            ignore.write_text(GITIGNORE)  # a .gitignore the user wrote is left alone
        cfg = repo.dir / "config.toml"
        if not cfg.exists():
            _config.save(cfg, {"core": {"link": "copy"}})
        Graph.open(repo.db_path, create=True).close()
        return repo, InitResult(str(root), created, top is not None)

    # -- handles ------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.dir / "lineage.db"

    @cached_property
    def config(self) -> dict[str, Any]:
        return _config.load(self.dir / "config.toml")

    def save_config(self, config: dict[str, Any]) -> None:
        _config.save(self.dir / "config.toml", config)
        self.__dict__["config"] = _config.load(self.dir / "config.toml")

    @cached_property
    def raw_config(self) -> dict[str, Any]:
        """The config file as written (no defaults merged), for editing."""
        try:
            with open(self.dir / "config.toml", "rb") as fh:
                return tomllib.load(fh)
        except FileNotFoundError:
            return {}

    @cached_property
    def graph(self) -> Graph:
        return Graph.open(self.db_path, create=True)

    @cached_property
    def store(self) -> ObjectStore:
        """The object store, its durability from ``core.durability``. Opening it settles
        what earlier commands left unflushed (``lineage.store.durability``): objects a
        machine stop damaged are removed, with one warning."""
        store = ObjectStore(self.dir, durability=self.durability)
        settled = store.settle()
        message = settled.message()
        if message:
            # what the stat cache vouches for as stored is not all there any more
            self.stat_cache.forget_trees()
            warnings.warn(message, StoreRecoveryWarning, stacklevel=2)
        return store

    @property
    def durability(self) -> Durability:
        value = self.config.get("core", {}).get("durability", Durability.immediate.value)
        try:
            return Durability(value)
        except ValueError:
            raise ConfigError(f"core.durability must be deferred or immediate, not {value!r}") from None

    @cached_property
    def stat_cache(self) -> StatCache:
        return StatCache(self.dir / "state.db")

    @property
    def link_mode(self) -> LinkMode:
        value = self.config.get("core", {}).get("link", "copy")
        try:
            return LinkMode(value)
        except ValueError:
            raise ConfigError(f"core.link must be copy, reflink or hardlink, not {value!r}") from None

    @cached_property
    def user(self) -> str:
        import getpass  # on first use: reading commands never ask

        return os.environ.get("LINEAGE_USER") or gitinfo.identity(self.root) or getpass.getuser()

    @cached_property
    def host(self) -> str:
        import socket

        return socket.gethostname()

    def git_state(self, *, with_diff: bool = False, untracked: bool = False) -> gitinfo.GitState:
        """Code state; with ``untracked``, untracked code files count as dirty (paths lineage
        keeps as data, ``.lineage/`` and what ``.gitignore`` ignores are not code)."""
        def data() -> Iterator[str]:  # read only when git reports untracked files
            rows = self.graph.conn.execute(
                "SELECT path FROM snapshot_records WHERE path IS NOT NULL "
                "UNION SELECT path FROM datasets WHERE path IS NOT NULL")
            yield from (r[0] for r in rows)

        return gitinfo.state(self.root, with_diff=with_diff, untracked=untracked, data_paths=data())

    # -- paths --------------------------------------------------------------------
    def relpath(self, path: str | os.PathLike[str]) -> str:
        """``path`` relative to the workspace root in POSIX form; absolute when outside it."""
        p = Path(os.path.abspath(path))
        try:
            return p.relative_to(self.root).as_posix() or "."
        except ValueError:
            return p.as_posix()

    def abspath(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    def close(self) -> None:
        for name in ("graph", "stat_cache"):
            handle = self.__dict__.pop(name, None)
            if handle is not None:
                handle.close()
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()

    def __enter__(self) -> Repo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
