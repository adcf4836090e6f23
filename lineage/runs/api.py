"""The Python API: ``with lineage.run(kind="train") as r:`` records a run as the code goes.

Inside ``lineage run`` (or an orchestrator that set ``LINEAGE_RUN_ID``) the block joins
that run instead of starting a new one; its owner finishes it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lineage.errors import ConflictError
from lineage.repo import Repo
from lineage.runs import queries as q
from lineage.runs import record as _record
from lineage.runs.model import ENV_RUN_ID, Metric, RunInput, RunOutput, RunRecord, check_kind, check_run_id


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
        return _record.add_input(self.repo, self.id, os.fspath(path), role)

    def output(self, path: str | os.PathLike[str]) -> RunOutput:
        """Snapshot ``path`` now and record it as an output."""
        return _record.add_output(self.repo, self.id, os.fspath(path))

    def log_param(self, name: str, value: Any) -> None:
        _record.log_params(self.repo, self.id, {name: value})

    def log_params(self, params: dict[str, Any]) -> None:
        _record.log_params(self.repo, self.id, params)

    def log_metric(self, name: str, value: float, *, split: str | None = None,
                   step: int | None = None) -> Metric:
        return _record.log_metric(self.repo, self.id, name, value, split=split, step=step)

    def record(self) -> RunRecord:
        return _record.get(self.repo, self.id)

    def finish(self, status: str | None = None, *, exit_code: int | None = None,
               error: str | None = None) -> RunRecord:
        """End the run (a no-op returning the record for an attached run)."""
        try:
            if self.attached:
                return self.record()
            return _record.finish(self.repo, self.id, status=status, exit_code=exit_code, error=error)
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
        if self.attached or not _record.is_running(self.repo, self.id):
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
    check_kind(kind)
    owns = repo is None
    repo = repo or Repo.find()
    try:
        wanted = id or os.environ.get(ENV_RUN_ID, "").strip() or None
        if wanted is not None:
            check_run_id(wanted)
            _record.mark_dead_runs(repo)  # never attach to a run whose owner died
            row = q.run(repo.graph, wanted)
            if row is not None and row["status"] == "running":
                if params:
                    _record.log_params(repo, wanted, params)
                return Run(repo, wanted, row["kind"], attached=True, owns_repo=owns)
            if row is not None and id is not None:
                raise ConflictError(f"run {id} already finished ({row['status']}); choose another ID")
        command = list(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])
        run_id = _record.start(repo, kind, run_id=id, command=command, params=params, owned=True)
        return Run(repo, run_id, kind, attached=False, owns_repo=owns)
    except BaseException:
        if owns:
            repo.close()
        raise
