"""The one exception tree of lineage.

Library code raises these; only the CLI turns them into a red line on stderr and
an exit code. Messages are one line, written for the user, and never carry
credentials.

    LineageError
    ├── UsageError              bad arguments or option values
    ├── NotInitializedError     no .lineage/ found
    ├── PathError               a path is missing, unreadable or vanished mid-way
    ├── RefError                a reference cannot be resolved
    │   ├── UnknownRefError     nothing matches
    │   └── AmbiguousRefError   a prefix matches more than one thing
    ├── IntegrityError          stored bytes or the event log do not check out
    │   ├── CorruptObjectError  an object's bytes do not match its digest
    │   └── MissingObjectError  an object is not in the store
    ├── UnsafePathError         a path would be written outside the work tree or into .git/
    ├── ConflictError           an action would overwrite local changes
    │   └── BusyError           another lineage process holds the repository; retry
    ├── ConfigError             .lineage/config or pyproject settings are invalid
    └── RemoteError             a remote cannot be reached or refuses an operation
"""

from __future__ import annotations


class LineageError(Exception):
    """Root of every error lineage raises on purpose."""

    exit_code = 2


class UsageError(LineageError):
    """Arguments or option values that cannot work."""


class NotInitializedError(LineageError):
    """No `.lineage/` folder in this directory or any parent."""


class PathError(LineageError):
    """A path is missing, unreadable, or changed while it was being read."""


class RefError(LineageError):
    """A snapshot, dataset or run reference cannot be resolved."""


class UnknownRefError(RefError):
    """Nothing matches the reference."""


class AmbiguousRefError(RefError):
    """A prefix matches more than one thing."""


class IntegrityError(LineageError):
    """Stored bytes or the event log fail verification."""


class CorruptObjectError(IntegrityError):
    """An object's bytes do not hash to its name."""


class MissingObjectError(IntegrityError):
    """An object that should be in the store is not."""


class UnsafePathError(LineageError):
    """A recorded or manifest path would be written outside its root (absolute, `..`, a
    symlink leading out) or into `.git/` or `.lineage/` (see ``lineage.core.paths``)."""


class ConflictError(LineageError):
    """The action would overwrite local changes; pass --force to allow it."""


class BusyError(ConflictError):
    """Another lineage process held the repository longer than the bounded wait."""


class ConfigError(LineageError):
    """Configuration is invalid."""


class RemoteError(LineageError):
    """A remote cannot be reached, or refused an operation."""
