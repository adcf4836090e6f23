"""The command wrapper of ``lineage run --kind train ... -- CMD``: record, run, forward signals.

The run is recorded before the command starts and finished whatever happens to it:
a non-zero exit is ``failed``, SIGINT/SIGTERM (forwarded to the command's process
group) is ``aborted``, and a wrapper killed outright is marked aborted by the next
command that reads runs (``record.mark_dead_runs``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lineage.core import faults as _faults
from lineage.core import process as _process
from lineage.errors import UsageError
from lineage.repo import Repo
from lineage.runs import record as _record
from lineage.runs.model import ENV_RUN_ID, RunRecord, check_kind, check_role

#: Seconds a command may take to exit after a forwarded Ctrl-C before it is terminated.
ESCALATE_AFTER = 10.0


@dataclass(frozen=True)
class CommandResult:
    """A wrapped command's record, and the exit code ``lineage run`` should end with."""

    record: RunRecord
    exit_code: int
    missing_outputs: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_dict()


def _keyboard_shares_group() -> bool:
    """True when Ctrl-C at a terminal reaches the child directly (same foreground group)."""
    try:
        return os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


def run_command(
    repo: Repo,
    argv: Sequence[str],
    *,
    kind: str,
    inputs: Iterable[tuple[str, str]] = (),
    outputs: Iterable[str] = (),
    params: dict[str, Any] | None = None,
    run_id: str | None = None,
    on_start: Callable[[str], None] | None = None,
    stdout: int | None = None,
) -> CommandResult:
    """Snapshot the inputs, run ``argv`` with ``LINEAGE_RUN_ID`` set, snapshot the outputs.

    The run is recorded as started before the command runs. A non-zero exit records
    ``failed``; SIGINT/SIGTERM (forwarded to the command) records ``aborted``. Outputs
    are snapshotted only when the command succeeds; a declared output that was not
    written makes the run ``failed``. ``stdout`` redirects the command's standard
    output (a file descriptor), e.g. to keep JSON on the real stdout clean.
    """
    argv = [os.fspath(a) for a in argv]
    if not argv:
        raise UsageError("no command given; put it after '--', e.g. lineage run --kind train -- python train.py")
    check_kind(kind)
    params = _record.check_params(dict(params or {}))
    pairs = [(check_role(role), value) for role, value in inputs]
    out_paths = [os.fspath(p) for p in outputs]
    for p in out_paths:
        if not p.strip():
            raise UsageError("empty --output path")
    new_id, parent = _record.choose_id(repo, run_id)
    resolved = [(role, *_record.resolve_input(repo, value)) for role, value in pairs]
    _record.append_start(repo, new_id, kind, argv, params, parent, resolved, owned=True)
    if on_start is not None:
        on_start(new_id)

    env = {**os.environ, ENV_RUN_ID: new_id, "LINEAGE_DIR": str(repo.root)}
    status, exit_code, error = "failed", None, None
    received: list[int] = []
    missing: list[str] = []
    finished = False
    try:
        # The command dies with the wrapper (PR_SET_PDEATHSIG: a SIGKILLed wrapper cannot
        # forward anything) and, unless Ctrl-C at a terminal reaches it directly, runs in
        # a process group of its own, so signals reach what it started too.
        own_group = not _keyboard_shares_group()
        try:
            proc = subprocess.Popen(argv, env=env, stdout=stdout,
                                    preexec_fn=_process.die_with_parent(),
                                    process_group=0 if own_group else None)
        except FileNotFoundError:
            exit_code, error = 127, f"command not found: {argv[0]}"
        except PermissionError:
            exit_code, error = 126, f"command not executable: {argv[0]}"
        except OSError as exc:
            exit_code, error = 126, f"cannot start {argv[0]}: {exc.strerror}"
        else:
            _faults.point("run.command_started")  # run.start recorded, the command running
            exit_code = _wait(proc, received, group=own_group)
            rc = proc.returncode
            if received or rc in (-signal.SIGINT, -signal.SIGTERM):
                status = "aborted"
                error = f"interrupted by {signal.Signals(received[0] if received else -rc).name}"
            elif rc < 0:
                error = f"killed by {_signal_name(-rc)}"
            elif rc == 0:
                status = "succeeded"
        outs: list[tuple[str, str | None, str | None]] = []
        if status == "succeeded":
            for p in out_paths:
                if not os.path.exists(p):
                    missing.append(p)
                    continue
                outs.append(_record.resolve_output(repo, p))
            if missing:
                status, error = "failed", f"declared output not written: {', '.join(missing)}"
        result = _record.finish(repo, new_id, status=status, exit_code=exit_code, error=error, outputs=outs)
        finished = True
    except KeyboardInterrupt:
        if not finished:
            _record.finish(repo, new_id, status="aborted", exit_code=130, error="interrupted")
            finished = True
        raise
    finally:
        if not finished:
            # a failure while snapshotting outputs: the run must not stay "running"
            _record.finish(repo, new_id, status="failed", exit_code=exit_code,
                           error=error or "recording the outputs failed")
    if missing:
        code = 2  # the command "succeeded" without producing what it declared: bad input
    elif status == "aborted":
        code = 128 + (received[0] if received else signal.SIGINT)
    elif status == "succeeded":
        code = 0
    else:
        code = exit_code if exit_code else 1
    return CommandResult(result, code, tuple(missing))


def _grace() -> float:
    """Seconds before a command that outlives a forwarded Ctrl-C is terminated (LINEAGE_RUN_GRACE)."""
    text = os.environ.get("LINEAGE_RUN_GRACE")
    try:
        value = float(text) if text else ESCALATE_AFTER
    except ValueError:
        return ESCALATE_AFTER
    return value if 0 < value < 3600 else ESCALATE_AFTER


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _send(proc: subprocess.Popen[bytes], signum: int, group: bool) -> None:
    """Signal the command, and with ``group`` every process in its process group."""
    if not group:
        proc.send_signal(signum)
        return
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        proc.send_signal(signum)


def _wait(proc: subprocess.Popen[bytes], received: list[int], *, group: bool = False) -> int:
    """Wait for the command, forwarding SIGINT/SIGTERM to it (and its process group with
    ``group``); returns a shell-style exit code."""
    if threading.current_thread() is not threading.main_thread():
        proc.wait()
    else:
        shared = _keyboard_shares_group()

        grace = _grace()

        def escalate() -> None:
            # a command that ignores the signal is terminated, then killed
            for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace / 2)):
                try:
                    proc.wait(wait)
                    return
                except subprocess.TimeoutExpired:
                    _send(proc, signum, group)

        def forward(signum: int, _frame: object) -> None:
            received.append(signum)
            if proc.poll() is not None:
                return
            if len(received) == 1:
                threading.Thread(target=escalate, daemon=True).start()
            if len(received) > 2:
                _send(proc, signal.SIGKILL, group)
            elif signum == signal.SIGINT and shared and len(received) == 1:
                # the terminal already sent it to the command; remind it only if it lingers
                timer = threading.Timer(2.0, lambda: proc.poll() is None and proc.send_signal(signum))
                timer.daemon = True
                timer.start()
            else:
                _send(proc, signum, group)

        old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            proc.wait()
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)
    rc = proc.returncode
    return 128 - rc if rc < 0 else rc
