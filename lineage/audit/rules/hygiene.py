"""Hygiene rules: a test claim without a test set, unversioned code, unversioned inputs."""

from __future__ import annotations

from lineage.audit.protocol import RuleContext, RunView
from lineage.audit.rules.registry import Finding, Rule, Severity, register
from lineage.core.vocab import LEARNING_KINDS

#: upstream runs whose code shapes the model: the learning runs and the runs that move data
_CODE_KINDS = (*LEARNING_KINDS, "split", "transform")


@register
class NoTestSet(Rule):
    """A run reports test metrics without a test set, or its test set is inside its training data.

    A score is only evidence of generalisation when it comes from data the model never
    saw. A metric logged with split="test" by a run that has no `test` input cannot be
    traced to any held-out data; a test set whose every row is in the training data
    measures memorisation. Fix: record the test split as an input with role `test`
    (`--input test=PATH` or `r.input(path, role="test")`) and split before training.
    """

    slug = "no-test-set"
    severity = Severity.critical
    title = "test metrics with no test input, or test set contained in train"

    def reads(self, ctx: RuleContext, run: RunView) -> list[tuple[str, str]]:
        train_ids, _who = ctx.train_snapshots(run)
        tests = [t.snapshot_id for t in ctx.heldout_inputs(run, ("test",))]
        return [(s, "data") for s in [*train_ids, *tests]] if train_ids and tests else []

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        found = []
        tests = ctx.heldout_inputs(run, ("test",))
        test_metrics = sorted({m.name for m in run.metrics if m.split == "test"})
        if test_metrics and not tests:
            found.append(self.finding(
                run, f"run reports test metrics ({', '.join(test_metrics)}) but recorded no test input",
                {"metrics": test_metrics, "inputs": [ctx.describe_input(i) for i in run.inputs]}))
        train_ids, who = ctx.train_snapshots(run)
        for t in tests:
            if not train_ids:
                break
            o = ctx.overlap(train_ids, t.snapshot_id, reader=run.run_id)
            if o["rows"] and o["overlap"] == o["rows"]:
                found.append(self.finding(
                    run, f"every one of the {o['rows']} rows of test set {t.dataset or t.snapshot_id[:12]} "
                         "is in the training data",
                    {"test": ctx.describe_input(t), "train": who, **o,
                     "cause": f"held-out rows in training data:{t.snapshot_id}"}))
        return found


@register
class DirtyCode(Rule):
    """A run, or a learning run upstream of it, ran from uncommitted or unversioned code.

    If a result can't be reproduced, it is not ready to ship: with uncommitted changes
    the commit recorded does not hold the code that ran (the digest of the diff is kept
    so the exact change can be identified). Uncommitted means a tracked file changed or
    staged, or an untracked file that .gitignore does not ignore, outside .lineage/ and
    outside the paths lineage keeps as data (docs/runs.md). Fix: commit (or ignore what
    is not code), then run again.
    """

    slug = "dirty-code"
    severity = Severity.warning
    title = "run from uncommitted (or unversioned) code"

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        found = []
        for r in [run, *[u for u in ctx.upstream(run.run_id) if u.kind in _CODE_KINDS]]:
            git = r.git or {}
            where = "this run" if r is run else f"upstream {r.kind} run {r.run_id}"
            if git.get("dirty"):
                found.append(self.finding(
                    run, f"{where} ran from uncommitted changes (tracked or untracked files) "
                         f"on commit {str(git.get('commit'))[:10]}",
                    {"run": r.run_id, "kind": r.kind, "commit": git.get("commit"),
                     "diff_digest": git.get("diff_digest")}))
            elif not git.get("commit"):
                found.append(self.finding(
                    run, f"{where} ran outside git or before the first commit: its code is not versioned",
                    {"run": r.run_id, "kind": r.kind}))
        return found


@register
class UnversionedInput(Rule):
    """A run read data whose bytes lineage did not keep, or recorded no input at all.

    A snapshot taken with --no-store records digests only: the run can be checked but
    not reproduced unless the bytes are kept elsewhere. A learning or evaluation run
    with no recorded input used data that no snapshot describes. Fix: snapshot the
    inputs with their bytes (the `lineage run` wrapper does it for every --input).
    """

    slug = "unversioned-input"
    severity = Severity.warning
    title = "input not snapshotted with its bytes, or no input recorded"

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        found = []
        if not run.inputs and run.kind in ("fit", "train", "tune", "evaluate", "transform"):
            found.append(self.finding(run, f"{run.kind} run recorded no input: the data it used is unversioned",
                                      {"kind": run.kind}))
        stored = ctx.snapshots_stored([i.snapshot_id for i in run.inputs])
        for i in run.inputs:
            if not stored.get(i.snapshot_id, False):
                found.append(self.finding(
                    run, f"{i.role} input {i.dataset or i.path or i.snapshot_id[:12]} was recorded "
                         "without its bytes (--no-store or imported): it cannot be reproduced from lineage",
                    {"input": ctx.describe_input(i)}))
        return found
