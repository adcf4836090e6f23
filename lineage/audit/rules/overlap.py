"""Data rules between the training rows of a model and the held-out rows it is judged on.

"Training rows" are the `train` inputs of the audited run and of every learning run
(`fit`, `train`, `tune`) upstream of it; "held-out rows" are the audited run's
`validation` and `test` inputs. All comparisons use the stored row fingerprints,
group-key hashes, time values and MinHash signatures: data is never reread.
"""

from __future__ import annotations

from lineage.audit.protocol import InputView, RuleContext, RunView
from lineage.audit.rules.registry import Finding, Rule, Severity, register


def _label(i: InputView) -> str:
    return i.dataset or i.path or i.snapshot_id[:12]


@register
class ExactOverlap(Rule):
    """Held-out rows (or files) identical, features and label, to rows the model trained on.

    A duplicated row is scored on an answer the model memorised. Deepchecks tolerates
    5 %; lineage tolerates none by default (set `tolerance`, a fraction, to allow some).
    Non-tabular files count as one row each, so an image copied into both train/ and
    test/ is found too. Fix: deduplicate before splitting, or split by a key that keeps
    copies together.
    """

    slug = "exact-overlap"
    severity = Severity.error
    title = "held-out rows whose features+label fingerprint is in train"
    options = {"tolerance": 0.0}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        train_ids, who = ctx.train_snapshots(run)
        found = []
        if not train_ids:
            return []
        for h in ctx.heldout_inputs(run):
            o = ctx.overlap(train_ids, h.snapshot_id)
            if o["overlap"] and o["fraction"] > self.config["tolerance"]:
                found.append(self.finding(
                    run, f"{o['overlap']} of the {o['rows']} rows ({o['fraction']:.2%}) of the {h.role} set "
                         f"{_label(h)} also appear in the training data",
                    {"heldout": ctx.describe_input(h), "train": who, **o}))
        return found


@register
class LabelConflict(Rule):
    """The same features appear in training and held-out data with different labels.

    Either the label is noisy, or one entity was labelled twice; a held-out score on
    such rows measures nothing but the noise. Needs a declared label column
    (`--label-column`). Fix: resolve the conflicting labels, or drop those rows.
    """

    slug = "label-conflict"
    severity = Severity.warning
    title = "same features in two splits with different labels"

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        import numpy as np

        train_ids, who = ctx.train_snapshots(run)
        if not train_ids:
            return []
        found = []
        for h in ctx.heldout_inputs(run):
            h_pos, h_feat = ctx.keys(h.snapshot_id, "fp_features")
            if len(h_feat) == 0:
                continue
            t_feat = [ctx.keys(t, "fp_features")[1] for t in train_ids]
            t_full = [ctx.keys(t, "fp")[1] for t in train_ids]
            t_feat = np.concatenate(t_feat) if t_feat else np.zeros(0, "V16")
            same_features = ctx.members(t_feat, h_feat)
            full = ctx.keys(h.snapshot_id, "fp")
            full_by_pos = dict(zip(full[0].tolist(), range(len(full[0]))))
            idx = [full_by_pos[p] for p in h_pos[same_features].tolist() if p in full_by_pos]
            if not idx:
                continue
            same_row = ctx.members(np.concatenate(t_full), full[1][idx])
            conflict_pos = h_pos[same_features][~same_row]
            if len(conflict_pos):
                table = ctx.fingerprints(h.snapshot_id)
                examples = ctx.row_examples(h.snapshot_id, conflict_pos)
                for e, p in zip(examples, conflict_pos[:len(examples)]):
                    e["label"] = table.column("label")[int(p)].as_py()
                found.append(self.finding(
                    run, f"{len(conflict_pos)} rows of the {h.role} set {_label(h)} have the features of a "
                         "training row but a different label",
                    {"heldout": ctx.describe_input(h), "train": who, "rows": int(len(h_feat)),
                     "conflicts": int(len(conflict_pos)), "examples": examples}))
        return found


@register
class NearDuplicate(Rule):
    """Held-out text that is a near-copy of training text (MinHash + LSH, verified exactly).

    Exact fingerprints miss a copy with a changed comma. For a declared text column
    (`--text-column`) the stored MinHash signatures are searched with LSH below the
    threshold and each candidate pair is verified by exact shingle Jaccard similarity.
    Probabilistic by nature, so it stays a warning. Fix: deduplicate near-copies
    before splitting.
    """

    slug = "near-duplicate"
    severity = Severity.warning
    title = "near-identical text across splits (MinHash, verified)"
    options = {"threshold": 0.8, "tolerance": 0.0}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        train_ids, who = ctx.train_snapshots(run)
        if not train_ids:
            return []
        found = []
        for h in ctx.heldout_inputs(run):
            near = ctx.near_duplicates(train_ids, h.snapshot_id, self.config["threshold"])
            if near is None:
                continue
            pairs, n_rows = near
            # exact copies are exact-overlap's business; count rows of the held-out side once
            rows = {(p.file_b, p.row_b) for p in pairs if p.jaccard < 1.0}
            fraction = len(rows) / n_rows
            if rows and fraction > self.config["tolerance"]:
                found.append(self.finding(
                    run, f"{len(rows)} rows of the {h.role} set {_label(h)} are near-duplicates "
                         f"(Jaccard >= {self.config['threshold']}) of training rows",
                    {"heldout": ctx.describe_input(h), "train": who, "rows": n_rows,
                     "near_duplicates": len(rows), "fraction": round(fraction, 6),
                     "examples": [p.to_dict() for p in pairs if p.jaccard < 1.0][:5]}))
        return found


@register
class GroupOverlap(Rule):
    """A declared group (patient, user, device) has rows in both training and held-out data.

    Rows of one patient are not independent: a model that saw some of them recognises
    the patient, not the disease. Needs a declared group column (`--group-column`).
    Fix: split by group (e.g. GroupShuffleSplit), not by row.
    """

    slug = "group-overlap"
    severity = Severity.error
    title = "a declared group key in more than one split"
    options = {"tolerance": 0.0}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        import numpy as np

        train_ids, who = ctx.train_snapshots(run)
        found = []
        for h in ctx.heldout_inputs(run):
            h_pos, h_groups = ctx.keys(h.snapshot_id, "group")
            if len(h_groups) == 0 or not train_ids:
                continue
            t_groups = [ctx.keys(t, "group")[1] for t in train_ids]
            t_groups = np.concatenate(t_groups) if t_groups else np.zeros(0, "V16")
            if len(t_groups) == 0:
                continue
            mask = ctx.members(t_groups, h_groups)
            shared = np.unique(h_groups[mask])
            all_groups = np.unique(h_groups)
            fraction = len(shared) / len(all_groups)
            if len(shared) and fraction > self.config["tolerance"]:
                found.append(self.finding(
                    run, f"{len(shared)} of the {len(all_groups)} groups of the {h.role} set {_label(h)} "
                         f"also have rows in the training data ({int(mask.sum())} rows)",
                    {"heldout": ctx.describe_input(h), "train": who, "groups": int(len(all_groups)),
                     "shared_groups": int(len(shared)), "shared_rows": int(mask.sum()),
                     "fraction": round(fraction, 6),
                     "group_hashes": [bytes(g).hex() for g in shared[:5]],
                     "examples": ctx.row_examples(h.snapshot_id, h_pos[mask])}))
        return found


@register
class TemporalOrder(Rule):
    """Held-out rows older than the newest training row, for a declared time column.

    A model evaluated on the past after training on the future has seen tomorrow's
    answers; a random split of a time series does exactly that. Needs a declared time
    column (`--time-column`). Fix: split at a cut-off time; everything held out comes
    after it.
    """

    slug = "temporal-order"
    severity = Severity.error
    title = "held-out rows older than the newest training row"
    options = {"tolerance": 0.0}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        train_ids, who = ctx.train_snapshots(run)
        if not train_ids:
            return []
        newest = None
        for t in train_ids:
            col = ctx.fingerprints(t).column("time")
            if col.null_count == len(col):
                continue
            m = pc.max(col).as_py()
            newest = m if newest is None or m > newest else newest
            stamps = pa.types.is_timestamp(col.type)
        if newest is None:
            return []
        found = []
        for h in ctx.heldout_inputs(run):
            col = ctx.fingerprints(h.snapshot_id).column("time")
            if col.null_count == len(col):
                continue
            if pa.types.is_timestamp(col.type) != stamps:
                continue  # time stamps on one side, numbers on the other: no order between them
            older = pc.fill_null(pc.less(col, newest), False)
            positions = np.nonzero(older.to_numpy(zero_copy_only=False))[0]
            valid = len(col) - col.null_count
            fraction = len(positions) / valid if valid else 0.0
            if len(positions) and fraction > self.config["tolerance"]:
                oldest = pc.min(col).as_py()
                found.append(self.finding(
                    run, f"{len(positions)} of the {valid} rows ({fraction:.1%}) of the {h.role} set "
                         f"{_label(h)} are older than the newest training row ({newest})",
                    {"heldout": ctx.describe_input(h), "train": who, "newest_train": str(newest),
                     "oldest_heldout": str(oldest), "older_rows": int(len(positions)), "rows": int(valid),
                     "fraction": round(fraction, 6), "examples": ctx.row_examples(h.snapshot_id, positions)}))
        return found
