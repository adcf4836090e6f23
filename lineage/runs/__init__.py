"""Run records: one execution, its inputs (with roles), outputs, parameters and metrics.

Three ways record the same ``run.*`` events, all through ``record`` (the one writer):

- the command wrapper, ``run_command`` (``lineage run --kind train ... -- CMD``; ``wrapper``);
- the Python API, ``Run`` (``with lineage.run(kind="train") as r: ...``; ``api``), which
  attaches to the run of an enclosing ``lineage run`` through ``LINEAGE_RUN_ID``;
- ``start`` / ``add_input`` / ``add_output`` / ``log_params`` / ``log_metric`` /
  ``finish`` for external orchestrators (``lineage run start`` ... ``lineage run finish``).

``model`` holds the value objects, ``queries`` the SQL, ``provenance`` the graph walks.
"""

from __future__ import annotations

# redact_command is public API here since 0.1; the rules live in lineage.core.redact

__all__ = [
    "ENV_RUN_ID", "ESCALATE_AFTER", "FINAL_STATUSES", "KINDS", "REDACTED", "ROLES", "SPLITS", "STATUSES",
    "CommandResult", "Metric", "Run", "RunInput", "RunOutput", "RunRecord", "RunSummary",
    "add_input", "add_missing_io", "add_output", "all_run_ids", "check_kind", "check_role",
    "check_run_id", "check_split", "environment", "exists", "finish", "get", "list_runs", "load",
    "log_metric", "log_params", "looks_secret", "mark_dead_runs", "new_run_id", "open_run",
    "parse_assignment", "parse_input", "parse_value", "record_imported", "redact_command",
    "redact_params", "redact_text", "resolve", "run_command", "start", "try_resolve",
]

from lineage.core import lazy as _lazy  # noqa: E402

# imported on first use: loading one module of the package (its projector, when the log
# opens) must not load the whole feature
_EXPORTS = {
    "REDACTED": "lineage.core.redact",
    "looks_secret": "lineage.core.redact",
    "redact_command": "lineage.core.redact",
    "redact_params": "lineage.core.redact",
    "redact_text": "lineage.core.redact",
    "KINDS": "lineage.core.vocab",
    "ROLES": "lineage.core.vocab",
    "Run": "lineage.runs.api",
    "open_run": "lineage.runs.api",
    "ENV_RUN_ID": "lineage.runs.model",
    "FINAL_STATUSES": "lineage.runs.model",
    "SPLITS": "lineage.runs.model",
    "STATUSES": "lineage.runs.model",
    "Metric": "lineage.runs.model",
    "RunInput": "lineage.runs.model",
    "RunOutput": "lineage.runs.model",
    "RunRecord": "lineage.runs.model",
    "RunSummary": "lineage.runs.model",
    "check_kind": "lineage.runs.model",
    "check_role": "lineage.runs.model",
    "check_run_id": "lineage.runs.model",
    "check_split": "lineage.runs.model",
    "new_run_id": "lineage.runs.model",
    "parse_assignment": "lineage.runs.model",
    "parse_input": "lineage.runs.model",
    "parse_value": "lineage.runs.model",
    "add_input": "lineage.runs.record",
    "add_missing_io": "lineage.runs.record",
    "add_output": "lineage.runs.record",
    "all_run_ids": "lineage.runs.record",
    "environment": "lineage.runs.record",
    "exists": "lineage.runs.record",
    "finish": "lineage.runs.record",
    "get": "lineage.runs.record",
    "list_runs": "lineage.runs.record",
    "load": "lineage.runs.record",
    "log_metric": "lineage.runs.record",
    "log_params": "lineage.runs.record",
    "mark_dead_runs": "lineage.runs.record",
    "record_imported": "lineage.runs.record",
    "resolve": "lineage.runs.record",
    "start": "lineage.runs.record",
    "try_resolve": "lineage.runs.record",
    "ESCALATE_AFTER": "lineage.runs.wrapper",
    "CommandResult": "lineage.runs.wrapper",
    "run_command": "lineage.runs.wrapper",
}
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
