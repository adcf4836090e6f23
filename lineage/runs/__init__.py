"""Run records: one execution, its inputs (with roles), outputs, parameters and metrics.

A run is a handful of events in the lineage log (``run.start``, ``run.input``,
``run.output``, ``run.param``, ``run.metric``, ``run.finish``; bodies in
docs/architecture.md). Three ways record the same events:

- the command wrapper, ``run_command`` (``lineage run --kind train ... -- CMD``);
- the Python API, ``Run`` (``with lineage.run(kind="train") as r: ...``), which attaches
  to the run of an enclosing ``lineage run`` through ``LINEAGE_RUN_ID``;
- ``start`` / ``add_input`` / ``add_output`` / ``log_params`` / ``log_metric`` /
  ``finish`` for external orchestrators (``lineage run start`` ... ``lineage run finish``).

``run.start`` is written before the work begins, so a crash leaves a visible run
whose status stays ``running``. No environment variable is ever recorded: the
environment facts are an explicit allow-list (Python, platform, package versions).
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lineage.errors import (
    AmbiguousRefError,
    ConflictError,
    PathError,
    UnknownRefError,
    UsageError,
)
from lineage.repo import Repo
# redact_command is public API here; the rules live in lineage.core.redact
from lineage.core.redact import REDACTED, looks_secret, redact_command, redact_params, redact_text  # noqa: F401

from lineage.core.vocab import KINDS, ROLES  # noqa: E402  (public here since 0.1)
SPLITS = ("train", "validation", "test", "other")
STATUSES = ("running", "succeeded", "failed", "aborted")
FINAL_STATUSES = ("succeeded", "failed", "aborted")

#: Seconds a command may take to exit after a forwarded Ctrl-C before it is terminated.
ESCALATE_AFTER = 10.0

#: The environment variable that carries a run ID into a command (and out of an orchestrator).
ENV_RUN_ID = "LINEAGE_RUN_ID"

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_SNAPSHOT_ID = re.compile(r"^[0-9a-f]{64}$")
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,127}$")


# -- value objects ----------------------------------------------------------------

@dataclass(frozen=True)
class RunInput:
    snapshot_id: str
    role: str
    path: str | None = None
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunInput:
        return cls(d["snapshot_id"], d["role"], d.get("path"), d.get("dataset"))


@dataclass(frozen=True)
class RunOutput:
    snapshot_id: str
    path: str | None = None
    dataset: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunOutput:
        return cls(d["snapshot_id"], d.get("path"), d.get("dataset"))


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    split: str | None = None
    step: int | None = None
    time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metric:
        return cls(d["name"], d["value"], d.get("split"), d.get("step"), d.get("time"))


@dataclass(frozen=True)
class RunRecord:
    """Everything recorded about one run, as ``lineage show RUN`` prints it."""

    run_id: str
    kind: str
    status: str
    exit_code: int | None
    error: str | None
    command: list[str] | None
    params: dict[str, Any]
    inputs: tuple[RunInput, ...]
    outputs: tuple[RunOutput, ...]
    metrics: tuple[Metric, ...]
    started: str
    ended: str | None
    user: str | None
    host: str | None
    git: dict[str, Any]
    env: dict[str, Any]
    parent_run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = [i.to_dict() for i in self.inputs]
        d["outputs"] = [o.to_dict() for o in self.outputs]
        d["metrics"] = [m.to_dict() for m in self.metrics]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        return cls(
            d["run_id"], d["kind"], d["status"], d.get("exit_code"), d.get("error"),
            d.get("command"), dict(d.get("params") or {}),
            tuple(RunInput.from_dict(i) for i in d.get("inputs") or ()),
            tuple(RunOutput.from_dict(o) for o in d.get("outputs") or ()),
            tuple(Metric.from_dict(m) for m in d.get("metrics") or ()),
            d["started"], d.get("ended"), d.get("user"), d.get("host"), dict(d.get("git") or {}),
            dict(d.get("env") or {}), d.get("parent_run"),
        )

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class RunSummary:
    """One line of ``lineage log --runs``."""

    run_id: str
    kind: str
    status: str
    exit_code: int | None
    started: str
    ended: str | None
    user: str | None
    git_commit: str | None
    git_dirty: bool | None
    command: list[str] | None
    parent_run: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSummary:
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__})


# -- IDs, names and values --------------------------------------------------------

def new_run_id() -> str:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, then random bits; sorts by time."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(secrets.token_bytes(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76                                   # version 7
    value |= ((rand >> 62) & 0xFFF) << 64                # 12 random bits
    value |= 0b10 << 62                                  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)                      # 62 random bits
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def check_run_id(run_id: str) -> str:
    """Refuse run IDs that could be mistaken for something else (a snapshot ID, a path)."""
    if not _RUN_ID.match(run_id or ""):
        raise UsageError(
            f"invalid run ID {run_id!r}: use 1-128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    if _SNAPSHOT_ID.match(run_id):
        raise UsageError(f"invalid run ID {run_id[:16]}...: 64 hex digits is the form of a snapshot ID")
    return run_id


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise UsageError(f"unknown run kind {kind!r}; use one of {', '.join(KINDS)}")
    return kind


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown input role {role!r}; use one of {', '.join(ROLES)}")
    return role


def check_split(split: str | None) -> str | None:
    if split is not None and split not in SPLITS:
        raise UsageError(f"unknown metric split {split!r}; use one of {', '.join(SPLITS)}")
    return split


def parse_value(text: str) -> Any:
    """A parameter value from the command line: a JSON number, boolean or null, else text."""
    import json

    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, float) and value != value:  # NaN has no canonical JSON form
        return text
    return value if isinstance(value, (int, float, bool)) or value is None else text


def parse_assignment(text: str, what: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (the first '='); a clear error when it is not one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise UsageError(f"{what} must look like KEY=VALUE, not {text!r}")
    return key, value


def parse_input(text: str) -> tuple[str, str]:
    """``ROLE=PATH|REF`` -> (role, value); a bare value gets role ``other``."""
    key, sep, value = text.partition("=")
    if sep and key in ROLES:
        if not value:
            raise UsageError(f"--input {text!r} names no path or snapshot after '='")
        return key, value
    if sep and re.fullmatch(r"[a-z_]+", key):
        raise UsageError(f"unknown input role {key!r} in {text!r}; use one of {', '.join(ROLES)}")
    return "other", text


def _check_params(params: dict[str, Any]) -> dict[str, Any]:
    import math

    out = {}
    for name, value in params.items():
        if not isinstance(name, str) or not _PARAM_NAME.match(name):
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
    import platform
    from importlib import metadata

    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name") if dist.metadata else None
        if name:
            packages[re.sub(r"[-_.]+", "-", name).lower()] = dist.version
    from lineage import __version__

    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": sys.platform,
        "machine": platform.machine(),
        "lineage": __version__,
        "packages": dict(sorted(packages.items())),
    }


# -- resolving --------------------------------------------------------------------

def resolve(repo: Repo, ref: str) -> str:
    """Run ID for a full run ID or a unique prefix of one."""
    from lineage.runs import queries as q

    ref = (ref or "").strip()
    if not ref:
        raise UsageError("empty run reference")
    if q.run_exists(repo.graph, ref):
        return ref
    matches = q.runs_with_prefix(repo.graph, ref)
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise AmbiguousRefError(f"prefix {ref!r} matches several runs; give more characters")
    raise UnknownRefError(f"no run matches {ref!r}")


def try_resolve(repo: Repo, ref: str) -> str | None:
    try:
        return resolve(repo, ref)
    except UnknownRefError:
        return None


def get(repo: Repo, ref: str) -> RunRecord:
    """Everything recorded about one run (ID or unique prefix)."""
    from lineage.runs import queries as q

    g = repo.graph
    run_id = resolve(repo, ref)
    mark_dead_runs(repo)
    row = q.run(g, run_id)
    assert row is not None
    ins = tuple(RunInput(r["snapshot_id"], r["role"], r["path"], r["dataset"]) for r in q.inputs(g, [run_id]))
    outs = tuple(RunOutput(r["snapshot_id"], r["path"], r["dataset"]) for r in q.outputs(g, [run_id]))
    mets = tuple(Metric(m["name"], m["value"], m["split"], m["step"], m["time"])
                 for m in q.metrics(g, [run_id]))
    git = {"commit": row["git_commit"], "branch": row["git_branch"], "dirty": row["git_dirty"],
           "diff_digest": row["git_diff_digest"]}
    return RunRecord(run_id, row["kind"], row["status"], row["exit_code"], row["error"], row["command"],
                     q.param_events(g, run_id), ins, outs, mets, row["started"], row["ended"],
                     row["user"], row["host"], git, row["env"], row["parent_run"])


def list_runs(repo: Repo, dataset: str | None = None, *, kind: str | None = None,
              limit: int | None = None) -> list[RunSummary]:
    """Runs, newest first; with ``dataset``, only runs that read or wrote it."""
    from lineage.snapshots import queries
    from lineage.runs import queries as q

    if kind is not None:
        check_kind(kind)
    if dataset is not None:
        ds = queries.dataset(repo.graph, dataset) or queries.dataset_by_path(repo.graph, repo.relpath(dataset))
        if ds is None:
            raise UnknownRefError(f"no dataset named {dataset!r}")
        dataset = ds.name
    mark_dead_runs(repo)
    rows = q.list_runs(repo.graph, dataset=dataset, kind=kind, limit=limit)
    return [RunSummary.from_dict(r) for r in rows]


# -- writing events -----------------------------------------------------------------

def _status_of(repo: Repo, run_id: str) -> str | None:
    from lineage.runs import queries as q

    row = q.run(repo.graph, run_id)
    return None if row is None else row["status"]


def mark_dead_runs(repo: Repo) -> list[str]:
    """Finish as ``aborted`` the runs whose owner process on this host has died.

    A ``lineage run`` wrapper killed with SIGKILL (or a Python process that died inside
    ``with lineage.run()``) cannot record its own end; the next command that reads runs
    does, once per process. Only runs in state running that a process on this host owns
    are looked at; runs owned elsewhere are left alone. Returns the run IDs marked.
    """
    from lineage.core import process as _process
    from lineage.runs import queries as q

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
    from lineage.errors import BusyError

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


def _choose_id(repo: Repo, run_id: str | None) -> tuple[str, str | None]:
    """(ID for a new run, parent run). An ID from the environment is honoured when new;
    when it names a run already recorded, the new run becomes its child."""
    from lineage.runs import queries as q

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


def _resolve_input(repo: Repo, value: str, progress: Callable[[int, int], None] | None = None
                   ) -> tuple[str, str | None, str | None]:
    """(snapshot ID, path, dataset) of an input: a path is snapshotted now, else a snapshot ref."""
    from lineage import snapshots
    from lineage.runs import queries as q

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
    from lineage.snapshots import queries

    return sid, queries.last_recorded_path(repo.graph, sid), dataset


def _resolve_output(repo: Repo, path: str, progress: Callable[[int, int], None] | None = None
                    ) -> tuple[str, str | None, str | None]:
    from lineage import snapshots

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
    params = _check_params(dict(params or {}))
    pairs = [(check_role(role), value) for role, value in inputs]
    new_id, env_parent = _choose_id(repo, run_id)
    resolved = [(role, *_resolve_input(repo, value)) for role, value in pairs]
    _append_start(repo, new_id, kind, command, params, parent_run or env_parent, resolved,
                  owned=owned)
    return new_id


def _append_start(repo: Repo, run_id: str, kind: str, command: Sequence[str] | None,
                  params: dict[str, Any], parent_run: str | None,
                  inputs: list[tuple[str, str, str | None, str | None]], *,
                  owned: bool = False) -> None:
    git = repo.git_state(with_diff=True)
    body: dict[str, Any] = {
        "run_id": run_id, "kind": kind,
        "command": None if command is None else redact_command(command),
        "params": params, "git": git.to_dict(), "user": repo.user, "host": repo.host,
        "env": environment(),
    }
    if parent_run:
        body["parent_run"] = parent_run
    if owned:
        from lineage.core import process as _process

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
             role: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"run_id": run_id, "snapshot_id": sid}
    if role is not None:
        body["role"] = role
    if path is not None:
        body["path"] = path
    if dataset is not None:
        body["dataset"] = dataset
    return body


def add_input(repo: Repo, run_ref: str, value: str, role: str = "other") -> RunInput:
    """Record that a running run read ``value`` (a path, snapshotted now, or a snapshot ref)."""
    check_role(role)
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    sid, path, dataset = _resolve_input(repo, value)
    repo.graph.append("run.input", _io_body(run_id, sid, path, dataset, role=role), actor=repo.user)
    return RunInput(sid, role, path, dataset)


def add_output(repo: Repo, run_ref: str, path: str) -> RunOutput:
    """Snapshot ``path`` now and record it as an output of a running run."""
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    sid, rel, dataset = _resolve_output(repo, path)
    repo.graph.append("run.output", _io_body(run_id, sid, rel, dataset), actor=repo.user)
    return RunOutput(sid, rel, dataset)


def log_params(repo: Repo, run_ref: str, params: dict[str, Any]) -> dict[str, Any]:
    """Record parameters of a running run (a later value of a name replaces an earlier one)."""
    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    checked = _check_params(params)
    if checked:
        repo.graph.append("run.param", {"run_id": run_id, "params": checked}, actor=repo.user)
    return checked


def log_metric(repo: Repo, run_ref: str, name: str, value: float, *, split: str | None = None,
               step: int | None = None) -> Metric:
    """Record a metric with the split it was computed on (train, validation, test, other)."""
    import math

    run_id = resolve(repo, run_ref)
    _require_open(repo, run_id)
    check_split(split)
    if not isinstance(name, str) or not _PARAM_NAME.match(name):
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


# -- the Python API -----------------------------------------------------------------

class Run:
    """A live run: record inputs, outputs, parameters and metrics as the code goes.

    A handle, not a value: ``record()`` returns the frozen ``RunRecord``.

    >>> with lineage.run(kind="train", params={"lr": 0.1}) as r:      # doctest: +SKIP
    ...     r.input("data/train", role="train")
    ...     r.log_metric("accuracy", 0.93, split="validation")
    ...     r.output("models/")
    """

    def __init__(self, repo: Repo, run_id: str, kind: str, *, attached: bool, owns_repo: bool) -> None:
        self.repo = repo
        self.id = run_id
        self.kind = kind
        #: True when this handle joined a run started elsewhere (``lineage run``, an
        #: orchestrator); the block then never finishes the run, its owner does.
        self.attached = attached
        self._owns_repo = owns_repo
        self._closed = False

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, kind={self.kind!r}, attached={self.attached})"

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.id, "kind": self.kind, "attached": self.attached}

    def input(self, path: str | os.PathLike[str], role: str = "other") -> RunInput:
        """Record an input: a path (snapshotted now) or a snapshot reference."""
        return add_input(self.repo, self.id, os.fspath(path), role)

    def output(self, path: str | os.PathLike[str]) -> RunOutput:
        """Snapshot ``path`` now and record it as an output."""
        return add_output(self.repo, self.id, os.fspath(path))

    def log_param(self, name: str, value: Any) -> None:
        log_params(self.repo, self.id, {name: value})

    def log_params(self, params: dict[str, Any]) -> None:
        log_params(self.repo, self.id, params)

    def log_metric(self, name: str, value: float, *, split: str | None = None,
                   step: int | None = None) -> Metric:
        return log_metric(self.repo, self.id, name, value, split=split, step=step)

    def record(self) -> RunRecord:
        return get(self.repo, self.id)

    def finish(self, status: str | None = None, *, exit_code: int | None = None,
               error: str | None = None) -> RunRecord:
        """End the run (a no-op returning the record for an attached run)."""
        try:
            if self.attached:
                return self.record()
            return finish(self.repo, self.id, status=status, exit_code=exit_code, error=error)
        finally:
            self._close()

    def _close(self) -> None:
        if not self._closed and self._owns_repo:
            self.repo.close()
        self._closed = True

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        if self.attached or _status_of(self.repo, self.id) != "running":
            self._close()
            return
        if exc is None:
            self.finish("succeeded", exit_code=0)
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("aborted", exit_code=130, error="interrupted")
        elif isinstance(exc, SystemExit):
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            self.finish("succeeded" if code == 0 else "failed", exit_code=code)
        else:
            self.finish("failed", exit_code=1, error=_describe(exc))


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__


def open_run(kind: str = "other", *, id: str | None = None, params: dict[str, Any] | None = None,
             repo: Repo | None = None) -> Run:
    """Start a run, or attach to the one an enclosing ``lineage run`` (or orchestrator) started.

    Attaching happens when ``id`` (or ``LINEAGE_RUN_ID``) names a run that is still
    running; a new run otherwise (with that ID when it is new).
    """
    from lineage.runs import queries as q

    check_kind(kind)
    owns = repo is None
    repo = repo or Repo.find()
    try:
        wanted = id or os.environ.get(ENV_RUN_ID, "").strip() or None
        if wanted is not None:
            check_run_id(wanted)
            mark_dead_runs(repo)  # never attach to a run whose owner died
            row = q.run(repo.graph, wanted)
            if row is not None and row["status"] == "running":
                if params:
                    log_params(repo, wanted, params)
                return Run(repo, wanted, row["kind"], attached=True, owns_repo=owns)
            if row is not None and id is not None:
                raise ConflictError(f"run {id} already finished ({row['status']}); choose another ID")
        command = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
        run_id = start(repo, kind, run_id=id, command=command, params=params, owned=True)
        return Run(repo, run_id, kind, attached=False, owns_repo=owns)
    except BaseException:
        if owns:
            repo.close()
        raise


# -- the command wrapper ------------------------------------------------------------

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
    params = _check_params(dict(params or {}))
    pairs = [(check_role(role), value) for role, value in inputs]
    out_paths = [os.fspath(p) for p in outputs]
    for p in out_paths:
        if not p.strip():
            raise UsageError("empty --output path")
    new_id, parent = _choose_id(repo, run_id)
    resolved = [(role, *_resolve_input(repo, value)) for role, value in pairs]
    _append_start(repo, new_id, kind, argv, params, parent, resolved, owned=True)
    if on_start is not None:
        on_start(new_id)

    env = {**os.environ, ENV_RUN_ID: new_id, "LINEAGE_DIR": str(repo.root)}
    status, exit_code, error = "failed", None, None
    received: list[int] = []
    missing: list[str] = []
    finished = False
    try:
        from lineage.core import faults as _faults
        from lineage.core import process as _process

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
                outs.append(_resolve_output(repo, p))
            if missing:
                status, error = "failed", f"declared output not written: {', '.join(missing)}"
        record = finish(repo, new_id, status=status, exit_code=exit_code, error=error, outputs=outs)
        finished = True
    except KeyboardInterrupt:
        if not finished:
            finish(repo, new_id, status="aborted", exit_code=130, error="interrupted")
            finished = True
        raise
    finally:
        if not finished:
            # a failure while snapshotting outputs: the run must not stay "running"
            finish(repo, new_id, status="failed", exit_code=exit_code, error=error or "recording the outputs failed")
    if missing:
        code = 2  # the command "succeeded" without producing what it declared: bad input
    elif status == "aborted":
        code = 128 + (received[0] if received else signal.SIGINT)
    elif status == "succeeded":
        code = 0
    else:
        code = exit_code if exit_code else 1
    return CommandResult(record, code, tuple(missing))


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
    import threading

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


__all__ = [
    "ENV_RUN_ID", "KINDS", "ROLES", "SPLITS", "STATUSES", "CommandResult", "Metric", "Run", "RunInput",
    "RunOutput", "RunRecord", "RunSummary", "add_input", "add_output", "environment", "finish", "get",
    "list_runs", "log_metric", "log_params", "new_run_id", "open_run", "redact_command", "resolve",
    "run_command", "start",
]
