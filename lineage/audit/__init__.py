"""The audit: evaluate every enabled rule against recorded runs and produce a report.

    >>> report = audit.run(repo, audit.select_runs(repo, all_runs=True))   # doctest: +SKIP
    >>> report.exit_code("error")         # 1 when an unwaived finding is at or above error
    >>> audit.waive(repo, "test-reuse", run_id, "scored twice on purpose")  # doctest: +SKIP

Modules: ``engine`` (select runs, run the rules, the report), ``context`` (what rules
ask the repository, cached per audit), ``protocol`` (``RuleContext``, the contract a
rule sees), ``rules`` (registry and built-in rules), ``waivers`` (read and apply them),
``record`` (the writer of waiver events), ``formats`` (SARIF, JUnit), ``queries`` (the
SQL), ``m0006_audit`` and ``m0008_waivers`` (the waiver tables).
"""

from __future__ import annotations


__all__ = [
    "FAIL_ON", "HELDOUT_ROLES", "LEARNING_KINDS", "AuditConfig", "AuditContext", "AuditReport",
    "Finding", "Rule", "RuleContext", "Severity", "Waiver", "fingerprint_keys", "members", "run",
    "list_waivers", "revoke", "select_runs", "waive",
]

from lineage.core import lazy as _lazy  # noqa: E402

# imported on first use: loading one module of the package (its projector, when the log
# opens) must not load the whole feature
_EXPORTS = {
    "AuditContext": "lineage.audit.context",
    "fingerprint_keys": "lineage.tabular.keys",
    "members": "lineage.tabular.keys",
    "FAIL_ON": "lineage.audit.engine",
    "AuditConfig": "lineage.audit.engine",
    "AuditReport": "lineage.audit.engine",
    "run": "lineage.audit.engine",
    "select_runs": "lineage.audit.engine",
    "RuleContext": "lineage.audit.protocol",
    "Finding": "lineage.audit.rules",
    "Rule": "lineage.audit.rules",
    "Severity": "lineage.audit.rules",
    "Waiver": "lineage.audit.waivers",
    "waive": "lineage.audit.record",
    "revoke": "lineage.audit.record",
    "list_waivers": "lineage.audit.waivers:listing",
    "HELDOUT_ROLES": "lineage.core.vocab",
    "LEARNING_KINDS": "lineage.core.vocab",
}
__getattr__, __dir__ = _lazy.exports(__name__, _EXPORTS)
