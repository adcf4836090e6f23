"""The run records the exporters read and the DVC importer writes.

Reads go through ``lineage.runs.queries``; an imported run is written as the same
``run.start`` / ``run.input`` / ``run.output`` / ``run.finish`` events a live run
records, in one transaction, so an interrupted import leaves no half-recorded run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lineage.errors import UnknownRefError
from lineage.repo import Repo


@dataclass(frozen=True)
class RunRecord:
    """Everything the exporters need to know about one run."""

    run: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    params: dict[str, Any]
    metrics: list[dict[str, Any]]

    @property
    def run_id(self) -> str:
        return self.run["run_id"]


def run_exists(repo: Repo, run_id: str) -> bool:
    from lineage.runs import queries as runs

    return runs.run_exists(repo.graph, run_id)


def resolve_run(repo: Repo, ref: str) -> str:
    """A run ID from a full ID or a unique prefix."""
    from lineage import runs

    return runs.resolve(repo, ref)


def load(repo: Repo, run_id: str) -> RunRecord:
    from lineage.runs import queries as runs

    g = repo.graph
    row = runs.run(g, run_id)
    if row is None:
        raise UnknownRefError(f"no run {run_id!r}")
    return RunRecord(row, runs.inputs(g, [run_id]), runs.outputs(g, [run_id]),
                     runs.param_events(g, run_id), runs.metrics(g, [run_id]))


def all_run_ids(repo: Repo) -> list[str]:
    from lineage.runs import queries as runs

    return [r["run_id"] for r in reversed(runs.list_runs(repo.graph))]


def _redacted(command: str) -> str:
    """The shell string with credential-like option values and URL passwords masked."""
    import shlex

    from lineage.core.redact import redact_command

    try:
        words = shlex.split(command)
    except ValueError:
        return redact_command([command])[0]
    masked = redact_command(words)
    # keep the original quoting (and operators such as &&) unless something was masked
    return command if masked == words else shlex.join(masked)


def record_imported_run(repo: Repo, run_id: str, *, kind: str, command: str | None,
                        params: dict[str, Any], inputs: list[dict[str, Any]],
                        outputs: list[dict[str, Any]], note: str) -> None:
    """Record a finished run known from another tool's records (e.g. a dvc.lock stage).

    The command is a shell string, kept as ``["sh", "-c", command]`` because that is
    how DVC runs it. No git state is recorded: the import knows nothing of the code
    the stage ran with.
    """
    g = repo.graph
    actor = repo.user
    from lineage.core.redact import redact_params

    # a dvc.lock's params come from params.yaml, which may hold a password too
    start: dict[str, Any] = {"run_id": run_id, "kind": kind, "user": actor, "host": repo.host,
                             "params": redact_params(params), "imported": note}
    if command is not None:
        start["command"] = ["sh", "-c", _redacted(command)]
    with g.transaction():
        g.append("run.start", start, actor=actor)
        for i in inputs:
            g.append("run.input", {"run_id": run_id, "snapshot_id": i["snapshot_id"],
                                   "role": i["role"], "path": i.get("path"),
                                   "dataset": i.get("dataset")}, actor=actor)
        for o in outputs:
            g.append("run.output", {"run_id": run_id, "snapshot_id": o["snapshot_id"],
                                    "path": o.get("path"), "dataset": o.get("dataset")}, actor=actor)
        g.append("run.finish", {"run_id": run_id, "status": "succeeded", "exit_code": 0}, actor=actor)


def add_missing_io(repo: Repo, run_id: str, inputs: list[dict[str, Any]],
                   outputs: list[dict[str, Any]]) -> int:
    """Add to an imported run the inputs and outputs it lacks (paths that were missing at
    an earlier import and are present now); returns how many were added."""
    from lineage.runs import queries as runs

    g = repo.graph
    have_in = {(i["snapshot_id"], i["role"]) for i in runs.inputs(g, [run_id])}
    have_out = {o["snapshot_id"] for o in runs.outputs(g, [run_id])}
    new_in = [i for i in inputs if (i["snapshot_id"], i["role"]) not in have_in]
    new_out = [o for o in outputs if o["snapshot_id"] not in have_out]
    if not new_in and not new_out:
        return 0
    actor = repo.user
    with g.transaction():
        for i in new_in:
            g.append("run.input", {"run_id": run_id, "snapshot_id": i["snapshot_id"], "role": i["role"],
                                   "path": i.get("path"), "dataset": i.get("dataset")}, actor=actor)
        for o in new_out:
            g.append("run.output", {"run_id": run_id, "snapshot_id": o["snapshot_id"],
                                    "path": o.get("path"), "dataset": o.get("dataset")}, actor=actor)
    return len(new_in) + len(new_out)
