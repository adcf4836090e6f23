"""Is a process still alive? And: make a child process die with its parent.

A run records the PID of the process that owns it (the ``lineage run`` wrapper, or the
Python process of ``with lineage.run()``) with a start token, so a later command on the
same host can tell a live owner from a dead one whose PID was reused. On Linux the
token is the machine ID, the boot ID, the PID namespace and the process start time
(a PID alone is reused; with its start time it is not), so a restarted machine's runs
are known dead and a container, or another machine under the same host name, is left
alone. Elsewhere there is no token and only the PID is checked.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

_PROC = "/proc"

#: Seconds a command waits for another lineage process to release the repository.
LOCK_TIMEOUT = 30.0

#: What a command that waited that long says.
BUSY = "the repository is busy (another lineage process holds it); retry"


def lock_timeout() -> float:
    """The bounded wait for the repository's locks (``LINEAGE_LOCK_TIMEOUT`` seconds)."""
    text = os.environ.get("LINEAGE_LOCK_TIMEOUT", "")
    try:
        value = float(text) if text else LOCK_TIMEOUT
    except ValueError:
        return LOCK_TIMEOUT
    return value if 0 <= value <= 3600 else LOCK_TIMEOUT


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def _pid_namespace() -> str | None:
    try:
        return os.readlink(f"{_PROC}/self/ns/pid").strip("pid:[]") or None
    except OSError:
        return None


def _here() -> tuple[str, str, str]:
    """(machine ID, boot ID, PID namespace) of this process, "-" where unknown."""
    return (_read("/etc/machine-id") or "-", _read(f"{_PROC}/sys/kernel/random/boot_id") or "-",
            _pid_namespace() or "-")


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    # the command name is in parentheses and may itself hold spaces or parentheses
    return raw[raw.rfind(b")") + 2:].decode("ascii", "replace").split()


def start_token(pid: int | None = None) -> str | None:
    """``MACHINE_ID:BOOT_ID:PID_NAMESPACE:STARTTIME`` of a process (default: this one), or
    None where /proc is missing."""
    machine, boot, namespace = _here()
    fields = _stat_fields(os.getpid() if pid is None else pid)
    if boot == "-" or fields is None or len(fields) < 20:
        return None
    return f"{machine}:{boot}:{namespace}:{fields[19]}"  # stat field 22: start, in ticks after boot


def alive(pid: int, token: str | None) -> bool:
    """Is the process ``pid`` that had start token ``token`` still running?

    Unsure answers count as alive, a live run must never be marked dead: another
    machine that shares the host name, another container (PID namespace) sharing the
    folder, no permission, no /proc.
    """
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True
    if token:
        parts = token.split(":")
        if len(parts) != 4:
            return True
        here = _here()
        if "-" not in (parts[0], here[0]) and parts[0] != here[0]:
            return True  # another machine under the same host name: not ours to judge
        if "-" not in (parts[1], here[1]) and parts[1] != here[1]:
            return False  # this machine restarted since: every process of then is gone
        if parts[2] != here[2]:
            return True  # another PID namespace (a container): its PIDs mean nothing here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process holds the PID now, or ours under another user
    except OSError:
        return True
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc, or the process exited this instant: the next check decides
    if fields and fields[0] in ("Z", "X"):
        return False  # exited, not yet reaped by its parent
    if token:
        return start_token(pid) == token
    return True


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` for Popen: the child gets SIGKILL when its parent dies (Linux).

    The C function is looked up before the fork, so the child only makes the call;
    None where ``prctl`` is not available.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def setup() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the call: nobody will signal
            os.kill(os.getpid(), signal.SIGKILL)

    return setup
