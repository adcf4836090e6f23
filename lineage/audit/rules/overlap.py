"""Data rules between the training rows of a model and the held-out rows it is judged on.

"Training rows" are the `train` inputs of the audited run and of every `train` run
upstream of it (what fit and tune runs learned from is judged by fit-on-heldout and
tune-read-test); "held-out rows" are the audited run's `validation` and `test` inputs. All comparisons use the stored row fingerprints (exact
and near keys), group-key hashes, time values and MinHash signatures: data is never
reread.
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
    Training rows are the `train` inputs of the model's `train` runs (what a scaler was
    fitted on is `fit-on-heldout`'s business). Rows that a split cut apart because its
    input already held them more than once (iris has one such pair) are a warning, not
    an error: the data has duplicates, the pipeline did not copy rows.
    Rows are compared by their data keys: index-like columns (pandas' written index,
    `Unnamed: 0`; schemas/FINGERPRINTS.md) are left out, so a copy that gained or lost
    one is still found, and the evidence names the files where that was done.
    Non-tabular files count as one row each, so an image copied into both train/ and
    test/ is found too. Fix: deduplicate before splitting, or split by a key that keeps
    copies together.
    """

    slug = "exact-overlap"
    severity = Severity.error
    title = "held-out rows whose features+label fingerprint is in train"
    options = {"tolerance": 0.0}

    def reads(self, ctx: RuleContext, run: RunView) -> list[tuple[str, str]]:
        train_ids, _who = ctx.train_snapshots(run)
        held = [h.snapshot_id for h in ctx.heldout_inputs(run)]
        return [(s, "data") for s in [*train_ids, *held]] if train_ids and held else []

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        train_ids, who = ctx.train_snapshots(run)
        found = []
        if not train_ids:
            return []
        for h in ctx.heldout_inputs(run):
            o = ctx.overlap(train_ids, h.snapshot_id, reader=run.run_id)
            cause = {"cause": f"held-out rows in training data:{h.snapshot_id}"}
            if o["overlap"] and o["fraction"] > self.config["tolerance"]:
                index = (" (compared without pandas-style index columns in "
                         + ", ".join(f for x in o["index_columns_left_out"] for f in x["files"]) + ")"
                         if o.get("index_columns_left_out") else "")
                found.append(self.finding(
                    run, f"{o['overlap']} of the {o['rows']} rows ({o['fraction']:.2%}) of the {h.role} set "
                         f"{_label(h)} also appear in the training data{index}",
                    {"heldout": ctx.describe_input(h), "train": who, **o, **cause}))
            elif o.get("source_duplicates"):
                found.append(self.finding(
                    run, f"{o['source_duplicates']} rows of the {h.role} set {_label(h)} also appear in the "
                         f"training data, as duplicates the split's input already held: deduplicate "
                         "before splitting",
                    {"heldout": ctx.describe_input(h), "train": who, **o, **cause},
                    severity=Severity.warning))
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
            same_features = ctx.members_of(train_ids, h_feat, "fp_features")
            full = ctx.keys(h.snapshot_id, "data")
            full_by_pos = dict(zip(full[0].tolist(), range(len(full[0]))))
            idx = [full_by_pos[p] for p in h_pos[same_features].tolist() if p in full_by_pos]
            if not idx:
                continue
            same_row = ctx.members_of(train_ids, full[1][idx], "data")
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
    """Held-out rows that are near-copies of training rows: numbers within about 1e-6
    (absolute below 1, relative above), or text within a Jaccard threshold.

    Exact fingerprints miss a copy whose numbers carry rounding noise, or whose text has
    a changed comma. Numbers: every row also has two *near keys* (`fp_near`,
    `fp_near_shift`), its fingerprint with each float value snapped to a grid of step
    2^-19 (absolute below 1, relative to the value's power of two above: the top 19
    mantissa bits), and to the same grid shifted by half a step (schemas/FINGERPRINTS.md).
    A held-out row whose near key, on either grid, is a training row's fires; rows that
    are exact copies (by data key: index-like columns left out) are left to `exact-overlap`.
    Integers, text and every other column must be equal. Deterministic, so these
    findings have the rule's severity (error). Text: for a declared text column
    (`--text-column`) the stored MinHash signatures are searched with LSH below the
    `threshold` and each candidate pair is verified by exact shingle Jaccard similarity;
    probabilistic by nature, so those findings are one level lower (warning). Rows
    recorded before near keys existed are compared exactly only (no numeric finding).
    Fix: deduplicate near-copies before splitting.
    """

    slug = "near-duplicate"
    severity = Severity.error
    title = "near-identical rows across splits (numbers snapped to a 2^-19 grid; text by MinHash, verified)"
    options = {"threshold": 0.8, "tolerance": 0.0}

    def reads(self, ctx: RuleContext, run: RunView) -> list[tuple[str, str]]:
        """The data keys and near keys ``_numeric`` compares (none where it compares none)."""
        train_ids, _who = ctx.train_snapshots(run)
        out: list[tuple[str, str]] = []
        for h in ctx.heldout_inputs(run) if train_ids else []:
            if _compares_near(ctx, train_ids, h.snapshot_id):
                sides = [*train_ids, h.snapshot_id]
                out += [(s, c) for c in ("data", _NEAR, _NEAR_SHIFT) for s in sides]
        return out

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        train_ids, who = ctx.train_snapshots(run)
        if not train_ids:
            return []
        found = []
        text_level = Severity(max(Severity.info, self.level - 1))
        for h in ctx.heldout_inputs(run):
            numeric = self._numeric(ctx, train_ids, h.snapshot_id)
            if numeric is not None:
                count, n_rows, positions = numeric
                fraction = count / n_rows
                if count and fraction > self.config["tolerance"]:
                    found.append(self.finding(
                        run, f"{count} of the {n_rows} rows ({fraction:.2%}) of the {h.role} set {_label(h)} "
                             f"are numeric near-copies of training rows (floats equal to within about "
                             f"1e-6, relative above 1, every other column equal)",
                        {"heldout": ctx.describe_input(h), "train": who, "kind": "numeric", "rows": n_rows,
                         "near_duplicates": count, "fraction": round(fraction, 6),
                         "examples": ctx.row_examples(h.snapshot_id, positions)}))
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
                    {"heldout": ctx.describe_input(h), "train": who, "kind": "text", "rows": n_rows,
                     "near_duplicates": len(rows), "fraction": round(fraction, 6),
                     "examples": [p.to_dict() for p in pairs if p.jaccard < 1.0][:5]},
                    severity=text_level))
        return found

    @staticmethod
    def _numeric(ctx: RuleContext, train_ids: list[str], heldout_id: str):
        """(near-copy rows, held-out rows, their positions) from the near keys, or None when
        no snapshot on either side has any (no float column, or recorded before them)."""
        import numpy as np

        from lineage.tabular.keys import members_both

        sides = [heldout_id, *train_ids]
        if not _compares_near(ctx, train_ids, heldout_id):
            return None
        h_pos, h_fp = ctx.keys(heldout_id, "data")
        if len(h_fp) == 0:
            return None
        near = np.zeros(len(h_fp), dtype=bool)
        # one pass over the training rows answers for both grids (and for exact-overlap)
        scan = ctx.train_scan(train_ids, heldout_id)
        if scan is None or not {_NEAR, _NEAR_SHIFT} <= set(scan.hits):
            scan = None
            _read_side_by_side(ctx, [(s, c) for c in ("data", _NEAR, _NEAR_SHIFT) for s in sides
                                     if c == "data" or c in ctx.fingerprints(s).column_names])
        train_fp = None if scan is not None else _joined([ctx.keys(t, "data")[1] for t in train_ids])
        for column in (_NEAR, _NEAR_SHIFT):
            held = _near_keys(ctx, heldout_id, column)[1]
            if scan is not None:
                hit = scan.masks[column].copy()
                hit_near, hit_fp = scan.hits[column]  # the training rows whose near key hit
            else:
                train = _joined([_near_keys(ctx, t, column)[1] for t in train_ids])
                # both ways at once: the held-out rows with a training row's near key, and
                # the training rows with a held-out row's
                train_hit, hit = members_both(train, held)
                hit_near, hit_fp = (train[train_hit], train_fp[train_hit]) if hit.any() else (None, None)
            if hit.any():
                # a grid cell that distinct training rows share is one the data crowds on its
                # own (saturated probabilities, coarse values): a match there is no evidence
                crowded = _crowded(hit_near, hit_fp)
                if len(crowded):
                    hit &= ~_contains(ctx, crowded, held)
            near |= hit
        if not near.any():
            return 0, len(h_fp), h_pos[:0]
        # exact copies are exact-overlap's business (its overlap, computed once per audit)
        near &= ~ctx.overlap_mask(train_ids, heldout_id, "data")
        return int(near.sum()), len(h_fp), h_pos[near]


_NEAR, _NEAR_SHIFT = "fp_near", "fp_near_shift"


def _compares_near(ctx: RuleContext, train_ids: list[str], heldout_id: str) -> bool:
    """Whether near keys are compared: some snapshot on either side has them, and the
    held-out table has at least ``MIN_FLOAT_COLUMNS`` float columns."""
    if not any(_NEAR in ctx.fingerprints(s).column_names for s in [heldout_id, *train_ids]):
        return False
    floats = [c for c, p in ctx.profiles(heldout_id).items() if str(p.get("type", "")).startswith(("double", "float"))]
    return len(floats) >= MIN_FLOAT_COLUMNS  # one or two floats agree to 1e-6 by chance

#: Numeric near-copies are judged on tables with at least this many float columns: with
#: fewer, distinct rows agree to 1e-6 by chance (two saturated probabilities, a rounded
#: measurement), so a match is no evidence of a copy.
MIN_FLOAT_COLUMNS = 3


def _crowded(near_keys, fp_keys, among=None):
    """The near keys (``V16``) that two or more distinct training rows (by data key) share;
    ``among``, a mask over the rows, restricts the search to those rows (the rows whose
    near key a held-out row has: far fewer than all, so far less to sort; or pass only
    those rows)."""
    import numpy as np

    if among is not None:
        near_keys, fp_keys = near_keys[among], fp_keys[among]
    if len(near_keys) == 0:
        return near_keys[:0]
    both = np.concatenate([np.ascontiguousarray(near_keys).view(np.uint64).reshape(-1, 2),
                           np.ascontiguousarray(fp_keys).view(np.uint64).reshape(-1, 2)], axis=1)
    distinct = np.unique(both, axis=0)
    cells, counts = np.unique(distinct[:, :2], axis=0, return_counts=True)
    return np.ascontiguousarray(cells[counts > 1]).view("V16").ravel()


def _near_keys(ctx: RuleContext, snapshot_id: str, column: str):
    """(positions, keys) of every row: the near key where recorded, else the data key
    (``fp_data`` or ``fp``), which is the near key of a row without float values (and an
    exact-only key for rows recorded before near keys existed)."""
    from lineage.tabular.keys import overlay

    base = ctx.keys(snapshot_id, "data")
    if column not in ctx.fingerprints(snapshot_id).column_names:
        return base
    return overlay(base, ctx.keys(snapshot_id, column))


def _contains(ctx: RuleContext, keys_a, keys_b):
    """Boolean mask over ``keys_b``: which 16-byte keys occur in ``keys_a`` (``ctx.members``:
    candidates narrowed down by their leading bits first, so clean data costs one pass)."""
    import numpy as np

    if len(keys_a) == 0 or len(keys_b) == 0:
        return np.zeros(len(keys_b), dtype=bool)
    return ctx.members(keys_a, keys_b)


def _read_side_by_side(ctx: RuleContext, wanted: list[tuple[str, str]]) -> None:
    """Read the key columns ``(snapshot, column)`` on two threads (Parquet decoding releases
    the GIL); ``ctx.keys`` keeps them for the rest of the audit."""
    from concurrent.futures import ThreadPoolExecutor

    if len(wanted) < 2:
        return
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda sc: ctx.keys(*sc), wanted))


def _joined(parts):
    """The key arrays as one (no copy for one)."""
    import numpy as np

    return parts[0] if len(parts) == 1 else np.concatenate(parts)


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
            if all(_all_null(ctx.fingerprints(t), "group") for t in train_ids):
                continue
            mask = ctx.members_of(train_ids, h_groups, "group")
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
            if _all_null(ctx.fingerprints(t), "time"):
                continue  # no time column declared: nothing read
            m, stamps = ctx.newest_time(t)
            newest = m if newest is None or m > newest else newest
        if newest is None:
            return []
        found = []
        for h in ctx.heldout_inputs(run):
            if _all_null(ctx.fingerprints(h.snapshot_id), "time"):
                continue
            col = ctx.fingerprints(h.snapshot_id).column("time")
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


def _all_null(table, name: str) -> bool:
    """Whether a fingerprint column holds no value; read from the statistics when the
    table can tell without reading the column (``FingerprintColumns.all_null``)."""
    check = getattr(table, "all_null", None)
    if check is not None:
        return check(name)
    col = table.column(name)
    return col.null_count == len(col)
