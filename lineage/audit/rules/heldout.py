"""Rules on what learning runs read: held-out data must never reach training or tuning."""

from __future__ import annotations

from lineage.audit.protocol import RuleContext, RunView
from lineage.audit.rules.registry import Finding, Rule, Severity, register
from lineage.core.vocab import HELDOUT_ROLES, LEARNING_KINDS


@register
class TrainReadHeldout(Rule):
    """A training run read test data, or read as training data what is used as held-out data.

    The training algorithm never, ever sees validation or test data. Flags a `train`
    or `fit` run with a `test` input, and a `train`/`fit` run whose training inputs
    (any role but `validation`) are a snapshot (or a copy of one) that some run uses
    as validation or test data. A `validation` input to a `train` run is allowed (early
    stopping), unless that same content is also used as a test set, other than by
    final scorings that finished before the read (once used, the test set becomes
    validation data). Fix: give
    training only the training split.
    """

    slug = "train-read-heldout"
    severity = Severity.critical
    title = "a training run read validation or test content"

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        if run.kind not in ("train", "fit"):
            return []
        found = []
        for i in run.inputs:
            if i.role == "test":
                found.append(self.finding(run, f"{run.kind} run read the test set "
                                               f"{i.dataset or i.path or i.snapshot_id[:12]}",
                                          {"input": ctx.describe_input(i)}))
                continue
            roles = ("test",) if i.role == "validation" else HELDOUT_ROLES
            # once used, the test set becomes validation data: final scorings that finished
            # before a validation read are dropped (docs/audit.md, "Order: happens-before")
            uses = ctx.heldout_uses_against(run, i, roles)
            if uses:
                first = uses[0]
                found.append(self.finding(
                    run, f"{run.kind} run read {i.dataset or i.path or i.snapshot_id[:12]} as {i.role} data, "
                         f"but run {first['run_id']} ({first['kind']}) uses the same content as {first['role']} data",
                    {"input": ctx.describe_input(i), "heldout_uses": uses[:10]}))
        return found


@register
class TuneReadTest(Rule):
    """A tuning (orchestrator) run read test content.

    The training orchestrator (hyperparameter search, model selection) never, ever
    sees test data: choosing by test score turns the test set into a validation set and
    the final score into an optimistic one. Flags a `tune` run with a `test` input or an
    input that is used as a test set elsewhere, and a run whose upstream `tune` run read
    rows of this run's test set. A `validation` input whose test uses are all final
    scorings that finished before the read, of models trained on other content than the
    tune run's `train` inputs, is allowed (once used, the test set becomes validation
    data). Fix: tune on a validation split or cross-validation inside the training data.
    """

    slug = "tune-read-test"
    severity = Severity.critical
    title = "a tuning/orchestrator run read test content"

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        found = []
        if run.kind == "tune":
            for i in run.inputs:
                uses = ctx.heldout_uses_against(run, i, ("test",))
                if i.role == "test" or uses:
                    found.append(self.finding(
                        run, f"tuning run read test data {i.dataset or i.path or i.snapshot_id[:12]}"
                             + (f" (role {i.role})" if i.role != "test" else ""),
                        {"input": ctx.describe_input(i), "test_uses": uses[:10]}))
        tests = ctx.heldout_inputs(run, ("test",))
        for tune in [u for u in ctx.upstream(run.run_id) if u.kind == "tune"]:
            read = [i.snapshot_id for i in tune.inputs]
            for t in tests:
                o = ctx.overlap(read, t.snapshot_id)
                if o["overlap"]:
                    found.append(self.finding(
                        run, f"upstream tuning run {tune.run_id} read {o['overlap']} of the {o['rows']} rows "
                             f"of this run's test set {t.dataset or t.snapshot_id[:12]}",
                        {"tune_run": tune.run_id, "test": ctx.describe_input(t),
                         "tune_inputs": [ctx.describe_input(i) for i in tune.inputs], **o}))
        return found


@register
class FitOnHeldout(Rule):
    """A fit, train or tune run upstream of the model learned from held-out rows.

    The classic "scaler fitted before the split" and "oversampled before the split":
    state learned from data that includes held-out rows (means, vocabularies, selected
    features, synthetic samples) leaks them into the model. Found through the lineage
    graph plus row fingerprints. A learning run upstream of (or equal to) the audited
    run is flagged when it read
    - data that a `split` run upstream of this run's validation or test set later
      divided (the learning happened before the split), or
    - a snapshot upstream of the held-out set whose rows include held-out rows.
    (Rows merely duplicated between separately produced splits are exact-overlap's
    business.) Fix: split first, then fit every transformation on the training split.
    """

    slug = "fit-on-heldout"
    severity = Severity.critical
    title = "a learning run upstream of the model read held-out rows"
    options = {"tolerance": 0.0}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        heldout = ctx.heldout_inputs(run)
        if not heldout:
            return []
        found = []
        learners = [u for u in ctx.upstream(run.run_id) if u.kind in LEARNING_KINDS]
        if run.kind in LEARNING_KINDS:
            learners.append(run)
        for u in learners:
            # held-out roles of a learning run are judged by train-read-heldout/tune-read-test
            read = [i for i in u.inputs if i.role not in (*HELDOUT_ROLES, "model")]
            for h in heldout:
                hit = self._before_split(ctx, run, u, read, h) or self._rows(ctx, run, u, read, h)
                if hit:
                    found.append(hit)
        return found

    def _before_split(self, ctx, run, u, read, h) -> Finding | None:
        for split_run, pre_split in ctx.splits_upstream(h.snapshot_id):
            if u.run_id == split_run or u.run_id in ctx.runs_downstream_of(split_run):
                continue
            early = [i for i in read if i.snapshot_id in pre_split]
            if not early:
                continue
            o = ctx.overlap([i.snapshot_id for i in early], h.snapshot_id)
            return self.finding(
                run, f"{u.kind} run {u.run_id} learned from "
                f"{early[0].dataset or early[0].path or early[0].snapshot_id[:12]} before split run "
                f"{split_run} cut the {h.role} set {h.dataset or h.snapshot_id[:12]} from it",
                {"learning_run": u.run_id, "kind": u.kind, "split_run": split_run,
                 "learning_inputs": [ctx.describe_input(i) for i in early],
                 "heldout": ctx.describe_input(h), **o})
        return None

    def _rows(self, ctx, run, u, read, h) -> Finding | None:
        sources = ctx.lineage_sources(h.snapshot_id)
        shared = [i.snapshot_id for i in read if i.snapshot_id in sources]
        if not shared:
            return None
        o = ctx.overlap(shared, h.snapshot_id)
        if not o["overlap"] or o["fraction"] <= self.config["tolerance"]:
            return None
        return self.finding(
            run, f"{u.kind} run {u.run_id} learned from {o['overlap']} of the {o['rows']} "
            f"rows ({o['fraction']:.1%}) of the {h.role} set {h.dataset or h.snapshot_id[:12]}",
            {"learning_run": u.run_id, "kind": u.kind,
             "learning_inputs": [ctx.describe_input(i) for i in read if i.snapshot_id in shared],
             "heldout": ctx.describe_input(h), **o})

