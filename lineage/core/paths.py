"""Where checkout and pull may write: the one check every path passes first.

A path that reaches the file system on checkout or pull comes from somewhere a user
does not control: a manifest or an event pushed by a teammate, or crafted on a remote.
``check_relative`` refuses manifest paths that could climb out (absolute, ``..``,
empty or ``.`` segments, NUL) or land in ``.git/`` or ``.lineage/``;
``checked_destination`` turns a recorded dataset path (or a destination the user gave)
into a folder inside the work tree, refusing symlinked parents that lead out;
``check_parent`` does the same for each file written below it.

On POSIX every other byte is a legal name, so ``a:b.txt`` and ``back\\slash.txt``
are accepted; drive letters and backslashes are refused only on Windows.

    >>> check_relative("sub/a:b.txt")
    'sub/a:b.txt'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lineage.errors import UnsafePathError

if TYPE_CHECKING:  # a type only: core knows no repository, and start-up skips the Protocol
    from typing import Protocol

    class HasRoot(Protocol):
        """Anything with a work-tree root (a ``lineage.repo.Repo``)."""

        @property
        def root(self) -> Path: ...

#: Names never written by checkout (compared case-insensitively: on macOS and Windows
#: ``.GIT`` is ``.git``).
PROTECTED = frozenset({".git", ".lineage"})

#: Temporary files checkout writes next to their destination: short and fixed-length,
#: so a 255-byte file name still has a temporary name the file system accepts.
TEMP_PREFIX = ".lineage-tmp-"
#: Temporary names of older versions (``.NAME.xxxxxxxx.lineage-tmp``).
_OLD_TEMP_SUFFIX = ".lineage-tmp"

_WINDOWS = os.name == "nt"


def display(path: str | os.PathLike[str]) -> str:
    """``path`` printable on any terminal: undecodable bytes shown as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_temp_name(name: str) -> bool:
    """Is ``name`` a temporary file of an interrupted checkout?"""
    return name.startswith(TEMP_PREFIX) or name.endswith(_OLD_TEMP_SUFFIX)


def temp_name() -> str:
    return TEMP_PREFIX + os.urandom(4).hex()


def is_protected(name: str) -> bool:
    return name.casefold() in PROTECTED


def check_relative(rel: str, *, what: str = "path in manifest") -> str:
    """Return ``rel`` if it is a relative POSIX path that stays below its root.

    Refused: empty, absolute, NUL, empty / ``.`` / ``..`` segments, any ``.git`` or
    ``.lineage`` segment; on Windows also backslashes and drive letters.
    """
    if not isinstance(rel, str) or not rel:
        raise UnsafePathError(f"unsafe {what}: {rel!r} (empty or not a string)")
    if "\x00" in rel:
        raise UnsafePathError(f"unsafe {what}: {display_repr(rel)} (contains NUL)")
    if rel.startswith("/") or (_WINDOWS and ("\\" in rel or (len(rel) > 1 and rel[1] == ":"))):
        raise UnsafePathError(f"unsafe {what}: {display_repr(rel)} (absolute)")
    for part in rel.split("/"):
        if part in ("", ".", ".."):
            raise UnsafePathError(
                f"unsafe {what}: {display_repr(rel)} (must be relative, without empty, . or .. parts)")
        if part.casefold() in PROTECTED:
            raise UnsafePathError(f"unsafe {what}: {display_repr(rel)} (inside {part})")
    return rel


def display_repr(rel: str) -> str:
    return repr(display(rel)) if isinstance(rel, str) else repr(rel)


def _protected_inside(root: Path, resolved: Path) -> str | None:
    """The protected folder of ``root`` that ``resolved`` lies in, if any."""
    try:
        first = resolved.relative_to(root).parts[:1]
    except ValueError:
        return None
    return first[0] if first and is_protected(first[0]) else None


def checked_destination(repo: HasRoot, path: str | os.PathLike[str], *, recorded: bool = True) -> Path:
    """The absolute folder or file ``path`` names, if checkout may write there.

    ``recorded=True`` (a dataset path from the log): it must be relative to the work
    tree, and neither it nor a symlinked parent may lead outside it or into
    ``.git/`` or ``.lineage/``. ``recorded=False`` (a destination the user typed):
    anywhere the user chose, except inside this repository's ``.git/`` or ``.lineage/``.
    """
    root = repo.root.resolve()
    if recorded:
        rel = os.fspath(path)
        if rel in (".", ""):
            return repo.root
        if os.path.isabs(rel):
            raise UnsafePathError(f"recorded path {display(rel)} is outside the repository")
        check_relative(rel, what="recorded path")
        target = repo.root / rel
        resolved = target.resolve()
        if not resolved.is_relative_to(root):
            raise UnsafePathError(
                f"recorded path {display(rel)} leads outside the repository through a symbolic "
                f"link (to {display(resolved)})")
    else:
        target = Path(os.path.abspath(path))
        resolved = target.resolve()
    inside = _protected_inside(root, resolved)
    if inside is not None:
        raise UnsafePathError(f"refusing to write into {inside}/: {display(path)}")
    return target


def check_inside(root_resolved: Path, folder: Path, seen: dict[Path, bool], *,
                 target: Path | None = None) -> None:
    """Refuse ``folder`` if a symlink (it or a parent) takes it out of ``root_resolved``
    or into a ``.git``/``.lineage`` folder below it.

    ``seen`` memoises folders already checked (one resolve per folder, not per file).
    """
    ok = seen.get(folder)
    if ok is None:
        resolved = folder.resolve()
        ok = resolved.is_relative_to(root_resolved) and not any(
            is_protected(p) for p in resolved.relative_to(root_resolved).parts)
        seen[folder] = ok
    if not ok:
        raise UnsafePathError(f"refusing to write {display(target or folder)}: a symbolic link "
                              f"leads outside {display(root_resolved)}")


def check_parent(root_resolved: Path, target: Path, seen: dict[Path, bool]) -> None:
    """``check_inside`` for the folder a file is written to."""
    check_inside(root_resolved, target.parent, seen, target=target)


def under_git(resolved: Path) -> bool:
    """Is ``resolved`` inside a ``.git`` folder (where an executable file could be a hook)?"""
    return any(p.casefold() == ".git" for p in resolved.parts)
