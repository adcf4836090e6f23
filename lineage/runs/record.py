"""The one writer of ``run.*`` events, and the reader that turns them into ``RunRecord``.

A run is a handful of events in the lineage log (``run.start``, ``run.input``,
``run.output``, ``run.param``, ``run.metric``, ``run.finish``; bodies in
docs/architecture.md). The command wrapper, the Python API, the orchestrator
commands (``lineage run start`` ... ``finish``) and the DVC import all append them
here, so every run is recorded with the same checks and the same masking.

``run.start`` is written before the work begins, so a crash leaves a visible run
whose status stays ``running``. No environment variable is ever recorded: the
environment facts are an explicit allow-list (Python, platform, package versions).
"""

from __future__ import annotations

import functools
import math
import os
import platform
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from typing import Any

from lineage import snapshots
from lineage._version import __version__
from lineage.core import process as _process
from lineage.core.redact import looks_secret, redact_command, redact_params, redact_text
from lineage.errors import (
    AmbiguousRefError,
    BusyError,
    ConflictError,
    PathError,
    UnknownRefError,
    UsageError,
)
from lineage.repo import Repo
from lineage.runs import queries as q
from lineage.runs.model import (
    ENV_RUN_ID,
    FINAL_STATUSES,
    PARAM_NAME,
    Metric,
    RunInput,
    RunOutput,
    RunRecord,
    RunSummary,
    check_kind,
    check_role,
    check_run_id,
    check_split,
    is_short_id,
    new_run_id,
    short_id,
)
from lineage.snapshots import queries as snapshot_queries
from lineage.snapshots.refs import no_dataset


# -- values -----------------------------------------------------------------------

def check_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as recorded: names checked, values made JSON, credentials masked."""
    out = {}
    for name, value in params.items():
        if not isinstance(name, str) or not PARAM_NAME.match(name):
            raise UsageError(f"invalid parameter name {name!r}")
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # NaN/inf have no canonical JSON form
        out[name] = _jsonable(value, f"parameter {name!r}")
    # masked before any event is written (lineage.core.redact: by name, then by value)
    return redact_params(out)


def _jsonable(value: Any, what: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, what) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, what) for k, v in value.items()}
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item(), what)
    return str(value)


@functools.lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """The allow-listed facts about the environment; never an environment variable."""
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name") if dist.metadata else None
        if name:
            packages[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": sys.platform,
        "machine": platform.machine(),
        "lineage": __version__,
        "packages": dict(sorted(packages.items())),
    }


# -- reading ----------------------------------------------------------------------

#: characters a run prefix needs (as a snapshot prefix does)
MIN_PREFIX = 4


def resolve(repo: Repo, ref: str) -> str:
    """Run ID for a full run ID, its short form (docs/runs.md) or a unique prefix of
    at least ``MIN_PREFIX`` characters."""
    ref = (ref or "").strip()
    if not ref:
        raise UsageError("empty run reference")
    if q.run_exists(repo.graph, ref):
        return ref
    if len(ref) < MIN_PREFIX:
        raise UnknownRefError(f"no run matches {ref!r} (a run prefix needs at least {MIN_PREFIX} characters)")
    matches = q.runs_with_prefix(repo.graph, ref, limit=6)
    if is_short_id(ref):
        matches = list(dict.fromkeys(matches + q.runs_with_tail(repo.graph, ref, limit=6)))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        shown = ", ".join(f"{m} ({short_id(m)})" if short_id(m) != m else m for m in matches[:5])
        more = ", ..." if len(matches) > 5 else ""
        raise AmbiguousRefError(f"{ref!r} matches several runs: {shown}{more}; give more characters")
    raise UnknownRefError(f"no run matches {ref!r}")


def try_resolve(repo: Repo, ref: str) -> str | None:
    try:
        return resolve(repo, ref)
    except UnknownRefError:
        return None


def load(repo: Repo, run_id: str) -> RunRecord:
    """The record of one run by its full ID, as the log holds it (no dead-run check)."""
    g = repo.graph
    row = q.run(g, run_id)
    if row is None:
        raise UnknownRefError(f"no run {run_id!r}")
    ins = tuple(RunInput(r["snapshot_id"], r["role"], r["path"], r["dataset"]) for r in q.inputs(g, [run_id]))
    outs = tuple(RunOutput(r["snapshot_id"], r["path"], r["dataset"]) for r in q.outputs(g, [run_id]))
    mets = tuple(Metric(m["name"], m["value"], m["split"], m["step"], m["time"])
                 for m in q.metrics(g, [run_id]))
    git = {"commit": row["git_commit"], "branch": row["git_branch"], "dirty": row["git_dirty"],
           "diff_digest": row["git_diff_digest"]}
    return RunRecord(run_id, row["kind"], row["status"], row["exit_code"], row["error"], row["command"],
                     q.param_events(g, run_id), ins, outs, mets, row["started"], row["ended"],
                     row["user"], row["host"], git, row["env"], row["parent_run"])


def get(repo: Repo, ref: str) -> RunRecord:
    """Everything recorded about one run (ID or unique prefix)."""
    run_id = resolve(repo, ref)
    mark_dead_runs(repo)
    return load(repo, run_id)


def list_runs(repo: Repo, dataset: str | None = None, *, kind: str | None = None,
              limit: int | None = None) -> list[RunSummary]:
    """Runs, newest first; with ``dataset``, only runs that read or wrote it."""
    if kind is not None:
        check_kind(kind)
    if dataset is not None:
        ds = (snapshot_queries.dataset(repo.graph, dataset)
              or snapshot_queries.dataset_by_path(repo.graph, repo.relpath(dataset)))
        if ds is None:
            raise no_dataset(repo, dataset)
        dataset = ds.name
    mark_dead_runs(repo)
    rows = q.list_runs(repo.graph, dataset=dataset, kind=kind, limit=limit)
    return [RunSummary.from_dict(r) for r in rows]


def all_run_ids(repo: Repo) -> list[str]:
    """Every run ID, oldest first (the order exports list them in)."""
    return [r["run_id"] for r in reversed(q.list_runs(repo.graph))]


def exists(repo: Repo, run_id: str) -> bool:
    return q.run_exists(repo.graph, run_id)


def _status_of(repo: Repo, run_id: str) -> str | None:
    row = q.run(repo.graph, run_id)
    return None if row is None else row["status"]


def is_running(repo: Repo, run_id: str) -> bool:
    return _status_of(repo, run_id) == "running"


# -- writing ----------------------------------------------------------------------

def mark_dead_runs(repo: Repo) -> list[str]:
    """Finish as ``aborted`` the runs whose owner process on this host has died.

    A ``lineage run`` wrapper killed with SIGKILL (or a Python process that died inside
    ``with lineage.run()``) cannot record its own end; the next command that reads runs
    does, once per process. Only runs in state running that a process on this host owns
    are looked at; runs owned elsewhere are left alone. Returns the run IDs marked.
    """
    if repo.__dict__.get("_dead_runs_checked"):
        return []
    repo.__dict__["_dead_runs_checked"] = True
    g = repo.graph
    if g.readonly:
        return []
    dead = [(rid, pid) for rid, pid, token in q.running_owned_on(g, repo.host)
            if not _process.alive(pid, token)]
    if not dead:
        return []
    marked: list[str] = []
    try:
        with g.transaction():
            for rid, pid in dead:
                if _status_of(repo, rid) != "running":  # finished meanwhile, by itself or another reaper
                    continue
                g.append("run.finish", {
                    "run_id": rid, "status": "aborted", "exit_code": None,
                    "error": f"wrapper process {pid} on {repo.host} died before the run finished",
                }, actor=repo.user)
                marked.append(rid)
    except BusyError:
        return []  # a reader must not fail over this: the next command marks them
    return marked


def _require_open(repo: Repo, run_id: str) -> None:
    status = _status_of(repo, run_id)
    if status is None:
        raise UnknownRefError(f"no run {run_id!r}")
    if status != "running":
        raise ConflictError(f"run {run_id} already finished ({status}); start a new run")


def choose_id(repo: Repo, run_id: str | None) -> tuple[str, str | None]:
    """(ID for a new run, parent run). An ID from the environment is honoured when new;
    when it names a run already recorded, the new run becomes its child."""
    mark_dead_runs(repo)  # an env ID naming a run whose wrapper died must not be attached to
    if run_id is not None:
        check_run_id(run_id)
        if q.run_exists(repo.graph, run_id):
            raise ConflictError(f"run {run_id} is already recorded; choose another ID")
        return run_id, None
    env_id = os.environ.get(ENV_RUN_ID, "").strip()
    if env_id:
        check_run_id(env_id)
        if q.run_exists(repo.graph, env_id):
            return new_run_id(), env_id
        return env_id, None
    return new_run_id(), None


def resolve_input(repo: Repo, value: str, progress: Callable[[int, int], None] | None = None
                  ) -> tuple[str, str | None, str | None]:
    """(snapshot ID, path, dataset) of an input: a path is snapshotted now, else a snapshot ref."""
    value = os.fspath(value)
    if os.path.exists(value):
        res = snapshots.create(repo, value, progress=progress)
        return res.id, res.path, res.dataset
    try:
        sid = snapshots.resolve(repo, value)
    except UnknownRefError:
        raise PathError(f"input {value!r} is neither an existing path nor a known snapshot") from None
    m = re.match(r"^(?P<name>.+?)(@(\d+|latest))?$", value)
    names = [n for n, _ in q.datasets_of(repo.graph, [sid]).get(sid, [])]
    dataset = m.group("name") if m and m.group("name") in names else (names[0] if names else None)
    return sid, snapshot_queries.last_recorded_path(repo.graph, sid), dataset


def resolve_output(repo: Repo, path: str, progress: Callable[[int, int], None] | None = None
                   ) -> tuple[str, str | None, str | None]:
    """(snapshot ID, path, dataset) of an output, snapshotted now."""
    res = snapshots.create(repo, path, progress=progress)
    return res.id, res.path, res.dataset


def start(repo: Repo, kind: str, *, run_id: str | None = None, command: Sequence[str] | None = None,
          params: dict[str, Any] | None = None, inputs: Iterable[tuple[str, str]] = (),
          parent_run: str | None = None, owned: bool = False) -> str:
    """Record the start of a run (and its inputs given as (role, path-or-ref)); returns its ID.

    ``owned``: this process owns the run and finishes it (the Python API); its PID is
    recorded so that, should it die first, a later command marks the run aborted.

    >>> run_id = start(repo, "train", inputs=[("train", "data/train")])   # doctest: +SKIP
    """
    check_kind(kind)
    params = check_params(dict(params or {}))
    pairs = [(check_role(role), value) for role, value in inputs]
    new_id, env_parent = choose_id(repo, run_id)
    resolved = [(role, *resolve_input(repo, value)) for role, value in pairs]
    append_start(repo, new_id, kind, command, params, parent_run or env_parent, resolved, owned=owned)
    return new_id


def append_start(repo: Repo, run_id: str, kind: str, command: Sequence[str] | None,
                 params: dict[str, Any], parent_run: str | None,
                 inputs: list[tuple[str, str, str | None, str | None]], *,
                 owned: bool = False) -> None:
    """Write ``run.start`` and the inputs known at start, in one transaction (checked values)."""
    # untracked code files count as dirty (docs/runs.md, "Code state")
    git = repo.git_state(with_diff=True, untracked=True)
    body: dict[str, Any] = {
        "run_id": run_id, "kind": kind,
        "command": None if command is None else redact_command(command),
        "params": params, "git": git.to_dict(), "user": repo.user, "host": repo.host,
        "env": environment(),
    }
    if parent_run:
        body["parent_run"] = parent_run
    if owned:
        # who finishes the run: checked (on this host) by mark_dead_runs
        body["pid"] = os.getpid()
        token = _process.start_token()
        if token is not None:
            body["process_start"] = token
    g = repo.graph
    with g.transaction():
        g.append("run.start", body, actor=repo.user)
        for role, sid, path, dataset in inputs:
            g.append("run.input", _io_body(run_id, sid, path, dataset, role=role), actor=repo.user)


def _io_body(run_id: str, sid: str, path: str | None, dataset: str | None, *,
             role: str | None = None, keep_none: bool = False) -> dict[str, Any]:
    """A ``run.input`` (with ``role``) or ``run.output`` body. Imported runs have always
    written ``path`` and ``dataset`` even when null (``keep_none``); their event IDs
    depend on it."""
    body: dict[str, Any] = {"run_id": run_id, "snapshot_id": sid}
    if role is not None:
        body["role"] = role
    if path is not None or keep_none:
        body["path"] = path
    if dataset is not None or keep_none:
        body["dataset"] = dataset
    return body


def add_input(repo: Repo, run_ref: str, value: str, role: str = "other") -> RunInput:
    """Record that a running run read ``value`` (a path, snapshotted now, or a snapshot ref)."""
    check_role(role)
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    sid, path, dataset = resolve_input(repo, value)
    repo.graph.append("run.input", _io_body(run_id, sid, path, dataset, role=role), actor=repo.user)
    return RunInput(sid, role, path, dataset)


def add_output(repo: Repo, run_ref: str, path: str) -> RunOutput:
    """Snapshot ``path`` now and record it as an output of a running run."""
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    sid, rel, dataset = resolve_output(repo, path)
    repo.graph.append("run.output", _io_body(run_id, sid, rel, dataset), actor=repo.user)
    return RunOutput(sid, rel, dataset)


def log_params(repo: Repo, run_ref: str, params: dict[str, Any]) -> dict[str, Any]:
    """Record parameters of a running run (a later value of a name replaces an earlier one)."""
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    checked = check_params(params)
    if checked:
        repo.graph.append("run.param", {"run_id": run_id, "params": checked}, actor=repo.user)
    return checked


def log_metric(repo: Repo, run_ref: str, name: str, value: float, *, split: str | None = None,
               step: int | None = None) -> Metric:
    """Record a metric with the split it was computed on (train, validation, test, other)."""
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    check_split(split)
    if not isinstance(name, str) or not PARAM_NAME.match(name):
        raise UsageError(f"invalid metric name {name!r}")
    if looks_secret(name):  # a name cannot be masked and keep its meaning: refuse it, unechoed
        raise UsageError("refusing a metric name that looks like a credential")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"metric {name!r} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise UsageError(f"metric {name!r} must be a finite number, not {value!r}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise UsageError(f"metric step must be a non-negative integer, not {step!r}")
    body: dict[str, Any] = {"run_id": run_id, "name": name, "value": number, "split": split}
    if step is not None:
        body["step"] = step
    ev = repo.graph.append("run.metric", body, actor=repo.user)
    return Metric(name, number, split, step, ev.time)


def finish(repo: Repo, run_ref: str, *, status: str | None = None, exit_code: int | None = None,
           error: str | None = None, outputs: Iterable[tuple[str, str | None, str | None]] = ()
           ) -> RunRecord:
    """Record the end of a run. Without ``status``: succeeded when ``exit_code`` is 0 or None."""
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    if status is None:
        status = "succeeded" if not exit_code else "failed"
    if status not in FINAL_STATUSES:
        raise UsageError(f"unknown final status {status!r}; use one of {', '.join(FINAL_STATUSES)}")
    if exit_code is not None and (isinstance(exit_code, bool) or not isinstance(exit_code, int)):
        raise UsageError(f"exit code must be an integer, not {exit_code!r}")
    if status == "succeeded" and exit_code:
        raise UsageError(f"a run that exited with code {exit_code} cannot be recorded as succeeded")
    body: dict[str, Any] = {"run_id": run_id, "status": status, "exit_code": exit_code}
    if error:
        body["error"] = redact_text(error)[:500]  # an exception text may quote a credential
    g = repo.graph
    with g.transaction():
        for sid, path, dataset in outputs:
            g.append("run.output", _io_body(run_id, sid, path, dataset), actor=repo.user)
        g.append("run.finish", body, actor=repo.user)
    return get(repo, run_id)


# -- runs known from another tool's records -----------------------------------------

def _redacted_shell(command: str) -> str:
    """The shell string with credential-like option values and URL passwords masked."""
    try:
        words = shlex.split(command)
    except ValueError:
        return redact_command([command])[0]
    masked = redact_command(words)
    # keep the original quoting (and operators such as &&) unless something was masked
    return command if masked == words else shlex.join(masked)


def record_imported(repo: Repo, run_id: str, *, kind: str, command: str | None,
                    params: dict[str, Any], inputs: Iterable[RunInput],
                    outputs: Iterable[RunOutput], note: str, git: dict[str, Any] | None = None,
                    code: dict[str, str | None] | None = None,
                    metrics: Iterable[tuple[str, float, str | None]] = ()) -> None:
    """Record a finished run known from another tool's records (e.g. a dvc.lock stage).

    The command is a shell string, kept as ``["sh", "-c", command]`` because that is
    how DVC runs it. ``git`` is the code state the importer vouches for (a ``GitState``
    dict; none when it knows nothing of the code), ``code`` the code files the run read
    (path -> digest, kept as ``env.code``), ``metrics`` (name, value, split) what the run
    reported. One transaction: an interrupted import leaves no half-recorded run.
    """
    g = repo.graph
    actor = repo.user
    checked_metrics = []
    for name, value, split in metrics:
        check_split(split)
        if not isinstance(name, str) or not PARAM_NAME.match(name) or looks_secret(name):
            raise UsageError(f"invalid metric name {name!r}")
        number = float(value)
        if not math.isfinite(number):
            raise UsageError(f"metric {name!r} must be a finite number, not {value!r}")
        checked_metrics.append({"run_id": run_id, "name": name, "value": number, "split": split})
    # a dvc.lock's params come from params.yaml, which may hold a password too
    body: dict[str, Any] = {"run_id": run_id, "kind": kind, "user": actor, "host": repo.host,
                            "params": redact_params(params), "imported": note}
    if command is not None:
        body["command"] = ["sh", "-c", _redacted_shell(command)]
    if git is not None:
        body["git"] = dict(git)
    if code:
        body["env"] = {"code": dict(sorted(code.items()))}
    with g.transaction():
        g.append("run.start", body, actor=actor)
        for m in checked_metrics:
            g.append("run.metric", m, actor=actor)
        for i in inputs:
            g.append("run.input", _io_body(run_id, i.snapshot_id, i.path, i.dataset, role=i.role,
                                           keep_none=True), actor=actor)
        for o in outputs:
            g.append("run.output", _io_body(run_id, o.snapshot_id, o.path, o.dataset, keep_none=True),
                     actor=actor)
        g.append("run.finish", {"run_id": run_id, "status": "succeeded", "exit_code": 0}, actor=actor)


def add_missing_io(repo: Repo, run_id: str, inputs: Iterable[RunInput],
                   outputs: Iterable[RunOutput]) -> int:
    """Add to an imported run the inputs and outputs it lacks (paths that were missing at
    an earlier import and are present now); returns how many were added."""
    g = repo.graph
    have_in = {(i["snapshot_id"], i["role"]) for i in q.inputs(g, [run_id])}
    have_out = {o["snapshot_id"] for o in q.outputs(g, [run_id])}
    new_in = [i for i in inputs if (i.snapshot_id, i.role) not in have_in]
    new_out = [o for o in outputs if o.snapshot_id not in have_out]
    if not new_in and not new_out:
        return 0
    actor = repo.user
    with g.transaction():
        for i in new_in:
            g.append("run.input", _io_body(run_id, i.snapshot_id, i.path, i.dataset, role=i.role,
                                           keep_none=True), actor=actor)
        for o in new_out:
            g.append("run.output", _io_body(run_id, o.snapshot_id, o.path, o.dataset, keep_none=True),
                     actor=actor)
    return len(new_in) + len(new_out)
