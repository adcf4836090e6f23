"""The one exception tree of lineage.

Library code raises these; only the CLI turns them into a red line on stderr and
an exit code. Messages are one line, written for the user, and never carry
credentials.

    LineageError
    ├── UsageError              bad arguments or option values
    │   ├── ReadOnlyError       a statement given to ``lineage query`` would write
    │   └── QueryTimeoutError   a statement given to ``lineage query`` ran past its time limit
    ├── NotInitializedError     no .lineage/ found
    ├── PathError               a path is missing, unreadable or vanished mid-way
    ├── RefError                a reference cannot be resolved
    │   ├── UnknownRefError     nothing matches
    │   │   └── NoMatchError    no form of the reference matched at all
    │   └── AmbiguousRefError   a prefix matches more than one thing
    ├── IntegrityError          stored bytes or the event log do not check out
    │   ├── CorruptObjectError  an object's bytes do not match its digest
    │   └── MissingObjectError  an object is not in the store
    ├── UnsafePathError         a path would be written outside the work tree or into .git/
    ├── ConflictError           an action would overwrite local changes
    │   └── BusyError           another lineage process holds the repository; retry
    ├── ConfigError             .lineage/config or pyproject settings are invalid
    ├── RuleError               an audit rule raised while checking a run (the audit stops)
    ├── RemoteError             a remote cannot be reached or refuses an operation
    ├── EngineError             a compute engine (Dask) is not installed, unreachable or mismatched
    └── TabularReadError        a tabular file cannot be read (the snapshot still succeeds)
        └── LimitExceeded       it crossed a [tabular] limit; its rows are not fingerprinted

    TypesChanged (not a LineageError) tells a tabular reader to start again with wider types.

``exit_code_for`` and ``guarded`` are the one mapping of errors to exit codes, shared
by both entry points (``lineage`` and ``lineage-hook``); library code never exits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


class LineageError(Exception):
    """Root of every error lineage raises on purpose."""

    exit_code = 2


class UsageError(LineageError):
    """Arguments or option values that cannot work."""


class ReadOnlyError(UsageError):
    """A statement given to ``lineage query`` would write."""


class QueryTimeoutError(UsageError):
    """A statement given to ``lineage query`` ran longer than its time limit."""


class NotInitializedError(LineageError):
    """No `.lineage/` folder in this directory or any parent."""


class PathError(LineageError):
    """A path is missing, unreadable, or changed while it was being read."""


class RefError(LineageError):
    """A snapshot, dataset or run reference cannot be resolved."""


class UnknownRefError(RefError):
    """Nothing matches the reference."""


class NoMatchError(UnknownRefError):
    """No form of the reference matched at all (as opposed to a precise miss such as
    "dataset X has no version 9"), so a caller trying other kinds of things may go on."""


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


class RuleError(LineageError):
    """An audit rule raised while checking a run. The audit stops: a report missing one
    rule's verdict would read as a pass."""

    def __init__(self, rule: str, run_id: str, cause: BaseException) -> None:
        self.rule, self.run_id, self.cause = rule, run_id, cause
        super().__init__(f"rule {rule} failed on run {run_id}: {type(cause).__name__}: {cause}")


class RemoteError(LineageError):
    """A remote cannot be reached, or refused an operation."""


class EngineError(LineageError):
    """A compute engine cannot be used: not installed (the message names the extra), its
    scheduler cannot be reached, or a worker lacks lineage or computes another scheme."""


class RulePluginWarning(UserWarning):
    """A rule plug-in was skipped: it failed to load, is not a rule, or takes a slug that
    is already registered (the rule registered first is kept)."""


class StoreRecoveryWarning(UserWarning):
    """Objects written just before the machine stopped came back damaged and were removed
    from the store (``lineage.store.durability``); shown as one warning line by the CLI."""


def warnings_through(say: Callable[[str], None]) -> None:
    """Show a ``StoreRecoveryWarning`` as one line through ``say`` (an entry point's
    ``warning:`` line); every other warning as Python shows it."""
    import warnings

    python_show = warnings.showwarning
    if getattr(python_show, "_lineage", False):
        python_show = python_show._python  # type: ignore[attr-defined]

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, StoreRecoveryWarning):
            say(str(message))
        else:
            python_show(message, category, filename, lineno, file, line)

    show._lineage = True  # type: ignore[attr-defined]
    show._python = python_show  # type: ignore[attr-defined]
    warnings.showwarning = show


class TabularReadError(LineageError):
    """A tabular file could not be read (malformed, corrupt, empty or of mixed types)."""


class LimitExceeded(TabularReadError):
    """A tabular file crossed one of the ``[tabular]`` limits; its rows are not fingerprinted."""

    def __init__(self, display: str, what: str, key: str, value: int) -> None:
        self.display, self.what, self.key, self.value = display, what, key, value
        super().__init__(f"{display}: {what}")

    @property
    def reason(self) -> str:
        """What went over which limit, and the setting that raises it."""
        return (f"rows not fingerprinted: {self.what} (limit tabular.{self.key} = {self.value} "
                f"in .lineage/config.toml; raise it, or 0 for no limit, to read this file)")

    @property
    def warning(self) -> str:
        """One line: the file, the limit, and the setting that raises it."""
        return f"{self.display}: {self.reason}"


class TypesChanged(Exception):
    """Read the tabular file again from the start with these column types (a later block
    disagreed with the types inferred from the first), or with bigger read blocks.

    A signal between the reader and its caller, never shown to the user."""

    def __init__(self, overrides: dict[str, Any], block_bytes: int | None = None) -> None:
        super().__init__("column types changed")
        self.overrides = overrides
        self.block_bytes = block_bytes


# -- the one mapping of errors to exit codes ------------------------------------------

#: Exit codes of both entry points.
EXIT_OK, EXIT_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def exit_code_for(exc: BaseException) -> int:
    """The exit code a command ends with when ``exc`` reaches its entry point."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK  # the reader went away (``| head``): nothing left to say
    if isinstance(exc, LineageError):
        return exc.exit_code
    return EXIT_ERROR


def message_for(exc: BaseException) -> str | None:
    """The one line a user sees for ``exc`` (None: print nothing)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, BrokenPipeError):
        return None
    text = str(exc)
    if isinstance(exc, LineageError):
        return text.splitlines()[0] if text else type(exc).__name__
    return f"unexpected {type(exc).__name__}: {text} (set LINEAGE_DEBUG=1 for details)"


def guarded(fn: Callable[[], int], say: Callable[[str], None]) -> int:
    """Run an entry point's body: its exit code, or the code of what it raised after one
    line through ``say``. Never a traceback, unless ``LINEAGE_DEBUG`` asks for one."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - the last line of defence of an entry point
        if not isinstance(exc, (LineageError, BrokenPipeError)) and os.environ.get("LINEAGE_DEBUG"):
            raise
        failure: BaseException = exc
    except KeyboardInterrupt as exc:
        failure = exc
    message = message_for(failure)
    if message is not None:
        say(message)
    return exit_code_for(failure)
