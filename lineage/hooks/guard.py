"""The guard: staged files that are data (too large, or data formats under a data folder).

Data kept in git bloats every clone forever and has no lineage; the guard looks
only at sizes and names, so it stays cheap. ``[tool.lineage.guard]`` in
pyproject.toml tunes it (:class:`GuardConfig`).
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from shlex import quote
from typing import Any

from lineage import config as _config
from lineage.core.units import format_size
from lineage.errors import ConfigError
from lineage.hooks.checks import HookResult, Problem, run_git
from lineage.log import Graph
from lineage.repo import DIRNAME

DEFAULT_MAX_SIZE = 1024 * 1024
DEFAULT_DATA_DIRS = ("data", "datasets")
DEFAULT_EXTENSIONS = (
    # tabular
    ".csv", ".tsv", ".parquet", ".pq", ".feather", ".arrow", ".ipc", ".jsonl", ".ndjson",
    ".avro", ".orc", ".xlsx", ".xls", ".h5", ".hdf5", ".nc", ".zarr", ".db", ".sqlite",
    # arrays, models and archives
    ".npy", ".npz", ".pkl", ".pickle", ".joblib", ".pt", ".pth", ".ckpt", ".safetensors",
    ".onnx", ".bin", ".tfrecord", ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".7z",
    # media
    ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".wav", ".flac", ".mp3", ".mp4",
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(value: str | int) -> int:
    """Bytes from ``1048576``, ``"500KB"``, ``"5 MB"`` or ``"2GiB"`` (binary units)."""
    if isinstance(value, bool):
        raise ConfigError(f"invalid size {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ConfigError(f"invalid size {value!r}: it must not be negative")
        return value
    m = _SIZE.match(str(value))
    if not m:
        raise ConfigError(f"invalid size {value!r}; write it like 500KiB, 5MiB or 1048576")
    unit = (m.group(2) or "").lower()[:1]
    return int(float(m.group(1)) * _UNITS[unit])


def _size_text(n: int) -> str:
    return format_size(n)


@dataclass(frozen=True)
class GuardConfig:
    """``[tool.lineage.guard]``: what counts as data that belongs under lineage, not git."""

    max_size: int = DEFAULT_MAX_SIZE
    data_dirs: tuple[str, ...] = DEFAULT_DATA_DIRS
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    allow: tuple[str, ...] = ()   # glob patterns never flagged
    tracked: bool = True          # flag files inside a dataset lineage already tracks

    def to_dict(self) -> dict[str, Any]:
        return {"max_size": self.max_size, "data_dirs": list(self.data_dirs),
                "extensions": list(self.extensions), "allow": list(self.allow),
                "tracked": self.tracked}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GuardConfig:
        """From a settings table; keys may use ``-`` or ``_``; unknown keys are refused."""
        known = {"max_size", "data_dirs", "extensions", "extra_extensions", "allow", "tracked"}
        norm = {str(k).replace("-", "_"): v for k, v in d.items()}
        unknown = sorted(set(norm) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) in [tool.lineage.guard]: {', '.join(map(repr, unknown))} "
                              f"(known: {', '.join(sorted(known))})")

        def strings(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = norm.get(key, default)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"[tool.lineage.guard] {key} must be a list of strings")
            return tuple(value)

        exts = strings("extensions", DEFAULT_EXTENSIONS) + strings("extra_extensions", ())
        tracked = norm.get("tracked", True)
        if not isinstance(tracked, bool):
            raise ConfigError("[tool.lineage.guard] tracked must be true or false")
        return cls(
            parse_size(norm.get("max_size", DEFAULT_MAX_SIZE)),
            tuple(p.strip("/") for p in strings("data_dirs", DEFAULT_DATA_DIRS)),
            tuple(norm_ext(e) for e in exts),
            strings("allow", ()),
            tracked,
        )

    @classmethod
    def load(cls, root: Path) -> GuardConfig:
        table = _config.pyproject_settings(root).get("guard", {})
        if not isinstance(table, dict):
            raise ConfigError("[tool.lineage.guard] in pyproject.toml must be a table")
        return cls.from_dict(table)


def norm_ext(ext: str) -> str:
    ext = ext.strip().lower()
    return ext if ext.startswith(".") else "." + ext


def _lfs_files(root: Path, paths: list[str]) -> set[str]:
    """Paths git stores through the LFS filter (their blobs are small pointers)."""
    if not paths:
        return set()
    out = run_git(root, "check-attr", "-z", "filter", "--stdin",
               stdin="\0".join(paths).encode("utf-8", "surrogateescape") + b"\0")
    if out.returncode != 0:
        return set()
    parts = out.stdout.decode("utf-8", "surrogateescape").split("\0")
    return {parts[i] for i in range(0, len(parts) - 2, 3) if parts[i + 2] == "lfs"}


def _tracked_paths(root: Path) -> list[tuple[str, str]]:
    """(dataset, path) of every dataset lineage tracks, when ``.lineage/`` exists."""
    if not (root / DIRNAME / "lineage.db").exists():
        return []
    from lineage.snapshots import queries  # lazy: only where .lineage/ exists

    graph = Graph.open(root / DIRNAME / "lineage.db", readonly=True)
    try:
        return [(r.name, r.path) for r in queries.tracked_datasets(graph) if r.path]
    finally:
        graph.close()


def check_guard(root: Path, files: list[tuple[str, int]], config: GuardConfig | None = None) -> HookResult:
    """Fail on staged files that are data: too large, or data formats under a data folder.

    ``files`` holds (path relative to ``root``, size in bytes) pairs. Data kept in
    git bloats every clone forever and has no lineage; snapshot it instead.
    """
    cfg = config or GuardConfig.load(root)
    lfs = _lfs_files(root, [p for p, size in files if size > cfg.max_size])
    tracked = _tracked_paths(root) if cfg.tracked else []
    problems: list[Problem] = []
    owned: dict[str, list[str]] = {}
    for path, size in files:
        posix = path.replace(os.sep, "/")
        if any(fnmatch.fnmatch(posix, pat) for pat in cfg.allow):
            continue
        name = posix.rsplit("/", 1)[-1]
        # ".tar.gz" and ".csv.gz": any suffix of the name counts
        suffixes = {"." + s for s in name.lower().split(".")[1:]}
        in_data_dir = next((d for d in cfg.data_dirs
                            if posix == d or posix.startswith(d + "/") or f"/{d}/" in f"/{posix}"), None)
        owner = next((ds for ds, p in tracked if p != "." and (posix == p or posix.startswith(p + "/"))),
                     None)
        untrack = f"git rm --cached {quote(posix)}"
        if owner is not None:
            owned.setdefault(owner, []).append(posix)
        elif size > cfg.max_size and posix not in lfs:
            problems.append(Problem(
                "large", posix,
                f"{posix}: {_size_text(size)}, over the {_size_text(cfg.max_size)} limit for git",
                f"{untrack} && echo {quote('/' + posix)} >> .gitignore && lineage snapshot "
                f"{quote(posix)}"))
        elif in_data_dir is not None and suffixes & set(cfg.extensions):
            problems.append(Problem(
                "data-format", posix,
                f"{posix}: a data file ({', '.join(sorted(suffixes & set(cfg.extensions)))}) "
                f"under {in_data_dir}/",
                f"{untrack} && echo {quote('/' + posix)} >> .gitignore && lineage snapshot "
                f"{quote(posix)}"))
    for owner, paths in owned.items():
        where = dict(tracked)[owner]
        problems.append(Problem(
            "tracked-data", where, f"{where}: {len(paths)} staged file(s) of dataset {owner!r}, "
            "which lineage already tracks",
            f"git rm -r --cached {quote(where)} && echo {quote('/' + where)} >> .gitignore && "
            f"lineage snapshot {quote(where)}" + ("" if owner == where else f" --name {quote(owner)}"),
            owner, tuple(paths)))
    n = len(files)
    if problems:
        flagged = sum(max(1, len(p.files)) for p in problems)
        summary = (f"{flagged} staged file(s) are data that belongs under lineage, not in git "
                   "(allow a path with [tool.lineage.guard] allow = [...])")
    else:
        summary = f"{n} staged file(s) checked, no data files"
    return HookResult("guard", n, tuple(problems), summary)
