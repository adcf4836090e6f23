"""Rules on what learning runs read: held-out data must never reach training or tuning."""

from __future__ import annotations

from lineage.audit.protocol import RuleContext, RunView
from lineage.audit.rules.registry import Finding, Rule, Severity, register
from lineage.core.vocab import HELDOUT_ROLES


def _label(i) -> str:
    return i.dataset or i.path or i.snapshot_id[:12]


def _describe_use(u: dict) -> str:
    if u.get("match") == "rows":
        return (f"{u['overlap']} of the {u['rows']} rows of the {u['role']} set read by run {u['run_id']} "
                f"({u['kind']})")
    return f"run {u['run_id']} ({u['kind']}) uses the same content as {u['role']} data"


@register
class TrainReadHeldout(Rule):
    """A training run read test data, or held-out rows of its own model reached its training data.

    The training algorithm never, ever sees validation or test data. Flags a `train` or
    `fit` run with a `test` input, and a `train` run
    - whose `validation` input (early stopping) holds test content, as the same files or
      as rows in any file, unless the test uses are final scorings that finished before
      the read, of models of another lineage (once used, the test set becomes validation
      data);
    - whose `train` input holds rows that a run downstream of it (its own model's
      evaluation or model selection) reads as validation or test data, in any file.
    Rows a split cut apart from duplicates already in its input, and rows held out for
    another model (another fold), do not count. Fix: give training only the training split.
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
                found.append(self.finding(run, f"{run.kind} run read the test set {_label(i)}",
                                          {"input": ctx.describe_input(i)}))
                continue
            if i.role == "model" or (run.kind == "fit" and i.role != "validation"):
                continue  # a fit run's training rows are fit-on-heldout's business
            roles = ("test",) if i.role == "validation" else HELDOUT_ROLES
            uses = ctx.heldout_uses_against(run, i, roles)
            if uses:
                found.append(self.finding(
                    run, f"{run.kind} run read {_label(i)} as {i.role} data, but {_describe_use(uses[0])}",
                    {"input": ctx.describe_input(i), "heldout_uses": uses[:10]}))
        return found


@register
class TuneReadTest(Rule):
    """A tuning (orchestrator) run read test content.

    The training orchestrator (hyperparameter search, model selection) never, ever
    sees test data: choosing by test score turns the test set into a validation set and
    the final score into an optimistic one. Flags a `tune` run with a `test` input; a
    `tune` run whose `validation` input holds test content (same files or rows in any
    file) unless its test uses are final scorings that finished before the read, of
    models trained on other content than the tune run's `train` inputs (once used, the
    test set becomes validation data); a `tune` run whose other inputs hold rows that a
    run downstream of it reads as test data; and a run whose upstream `tune` run read rows
    of this run's test set. Rows a split cut apart from duplicates already in its input do
    not count. Fix: tune on a validation split or cross-validation inside the training data.
    """

    slug = "tune-read-test"
    severity = Severity.critical
    title = "a tuning/orchestrator run read test content"

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        found = []
        if run.kind == "tune":
            for i in run.inputs:
                if i.role == "model":
                    continue
                uses = [] if i.role == "test" else ctx.heldout_uses_against(run, i, ("test",))
                if i.role == "test" or uses:
                    found.append(self.finding(
                        run, f"tuning run read test data {_label(i)}"
                             + (f" (role {i.role}: {_describe_use(uses[0])})" if i.role != "test" else ""),
                        {"input": ctx.describe_input(i), "test_uses": uses[:10]}))
        tests = ctx.heldout_inputs(run, ("test",))
        trained, _who = ctx.train_snapshots(run)
        for tune in [u for u in ctx.upstream(run.run_id) if u.kind == "tune"]:
            # what the model itself trained on is exact-overlap's business (one cause, one finding)
            read = [i.snapshot_id for i in tune.inputs if i.role != "model" and i.snapshot_id not in trained]
            for t in tests:
                o = ctx.overlap(read, t.snapshot_id, reader=run.run_id)
                if o["overlap"]:
                    found.append(self.finding(
                        run, f"upstream tuning run {tune.run_id} read {o['overlap']} of the {o['rows']} rows "
                             f"of this run's test set {_label(t)}",
                        {"tune_run": tune.run_id, "test": ctx.describe_input(t),
                         "tune_inputs": [ctx.describe_input(i) for i in tune.inputs], **o}))
        return found


@register
class FitOnHeldout(Rule):
    """A fit run upstream of the model learned from held-out rows.

    The classic "scaler fitted before the split" and "oversampled before the split":
    state learned from data that includes held-out rows (means, vocabularies, selected
    features, encodings, synthetic samples) leaks them into the model. Found through the
    lineage graph (in happens-before order, following renamed and re-serialised copies)
    plus row fingerprints. A `fit` run upstream of (or equal to) the audited run is
    flagged when it read
    - data that a `split` run in the history of this run's validation or test set divided
      (the fitting did not come after the split), or
    - a snapshot whose rows include held-out rows (beyond duplicates a split cut apart).
    The rows a model was trained on are `exact-overlap`'s business, and the rows a tuning
    run read `tune-read-test`'s. Fix: split first, then fit every transformation on the
    training split.
    """

    slug = "fit-on-heldout"
    severity = Severity.critical
    title = "a fit run upstream of the model read held-out rows"
    options = {"tolerance": 0.0}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        heldout = ctx.heldout_inputs(run)
        if not heldout or not ctx.judges(run):
            return []
        found = []
        learners = [u for u in ctx.upstream(run.run_id) if u.kind == "fit"]
        if run.kind == "fit":
            learners.append(run)
        for u in learners:
            # held-out roles of a fit run are judged by train-read-heldout
            read = [i for i in u.inputs if i.role not in (*HELDOUT_ROLES, "model")]
            for h in heldout:
                hit = self._before_split(ctx, run, u, read, h) or self._rows(ctx, run, u, read, h)
                if hit:
                    found.append(hit)
        return found

    def _before_split(self, ctx, run, u, read, h) -> Finding | None:
        for split_run, pre_split in ctx.splits_upstream(h.snapshot_id, run.run_id):
            if u.run_id == split_run or u.run_id in ctx.runs_downstream_of(split_run):
                continue
            early = [i for i in read if ctx.same_rows(i.snapshot_id, pre_split)]
            if not early:
                continue
            o = ctx.overlap([i.snapshot_id for i in early], h.snapshot_id)
            return self.finding(
                run, f"{u.kind} run {u.run_id} learned from {_label(early[0])}, the data split run "
                f"{split_run} cut the {h.role} set {_label(h)} from, without coming after that split",
                {"learning_run": u.run_id, "kind": u.kind, "split_run": split_run,
                 "learning_inputs": [ctx.describe_input(i) for i in early],
                 "heldout": ctx.describe_input(h), **o})
        return None

    def _rows(self, ctx, run, u, read, h) -> Finding | None:
        if not read:
            return None
        o = ctx.overlap([i.snapshot_id for i in read], h.snapshot_id, reader=run.run_id)
        if not o["overlap"]:
            # the held-out rows before a transformation (PCA, scaling) fitted on them
            for before in sorted(ctx.row_ancestors(h.snapshot_id, run.run_id) - {h.snapshot_id}):
                if not ctx.heldout_uses(before, (h.role,)):
                    continue  # only what is itself held out (a transform may read every split)
                o2 = ctx.overlap([i.snapshot_id for i in read], before)
                if o2["overlap"] and ctx.split_duplicates(h.snapshot_id, run.run_id) < o2["overlap"]:
                    o = {**o2, "heldout_before_transformation": before}
                    break
        if not o["overlap"] or o["fraction"] <= self.config["tolerance"]:
            return None
        shared = [i for i in read if ctx.overlap([i.snapshot_id], h.snapshot_id)["overlap"]]
        return self.finding(
            run, f"{u.kind} run {u.run_id} learned from {o['overlap']} of the {o['rows']} "
            f"rows ({o['fraction']:.1%}) of the {h.role} set {_label(h)}",
            {"learning_run": u.run_id, "kind": u.kind,
             "learning_inputs": [ctx.describe_input(i) for i in shared],
             "heldout": ctx.describe_input(h), **o})
