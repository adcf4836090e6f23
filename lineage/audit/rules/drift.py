"""Distribution shift between training data and held-out data, from stored column profiles."""

from __future__ import annotations

import math

from lineage.audit.protocol import RuleContext, RunView
from lineage.audit.rules.registry import Finding, Rule, Severity, register


@register
class DistributionShift(Rule):
    """Validation or test data drawn from another distribution than the training data.

    Validation and test data must have the same distribution as training data, or the
    score says little about the model (Recht et al. 2019 lost 3-15 points to shift
    alone). Per column, from the stored profiles (no data reread): the
    Kolmogorov-Smirnov statistic for numeric columns (drift at `ks` = 0.2, and only when
    also significant at the 1 % level for the two sample sizes) and the
    Jensen-Shannon distance for categorical ones (drift at `js` = 0.1, base 2); key-like
    columns (nearly every value distinct: IDs, row numbers) and declared group and time
    columns (they differ between splits by design) are not compared. When a
    model was trained at several stages (raw data for a scaler, scaled data for the
    model), the held-out set is compared with the training data closest to it. Overall
    the set has drifted when `share` (50 %) of the compared columns drift; fewer
    drifting columns are reported as info. Distances rather than p-values, which flag
    everything on big samples. Fix: re-split at random (stratified), or document the
    shift as the point of the evaluation.
    """

    slug = "distribution-shift"
    severity = Severity.warning
    title = "held-out vs train per-column drift (KS numeric, Jensen-Shannon categorical)"
    options = {"ks": 0.2, "js": 0.1, "share": 0.5}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        train_ids, who = ctx.train_snapshots(run)
        if not train_ids:
            return []
        trains = [(t, ctx.profiles(t)) for t in train_ids]
        trains = [(t, p) for t, p in trains if p]
        if not trains:
            return []
        found = []
        for h in ctx.heldout_inputs(run):
            held = ctx.profiles(h.snapshot_id)
            if not held:
                continue
            # group keys and times differ between splits by design (a split by patient or
            # at a cut-off time): they are other rules' business, not drift
            declared = ctx.declarations(h.snapshot_id)
            held = {c: p for c, p in held.items() if c not in (declared.get("group"), declared.get("time"))}
            # a pipeline trains at several stages (raw data for a scaler, scaled data for the
            # model): compare with the training data closest to the held-out set's form
            best = None
            for t, profile in trains:
                columns = self._compare(ctx, profile, held)
                if not columns:
                    continue
                drifted = sum(c["drift"] for c in columns)
                if best is None or drifted / len(columns) < best[2] / len(best[1]):
                    best = (t, columns, drifted)
            if best is None or not best[2]:
                continue
            t, columns, _ = best
            drifted = [c for c in columns if c["drift"]]
            share = len(drifted) / len(columns)
            level = self.level if share >= self.config["share"] else Severity.info
            found.append(self.finding(
                run, f"{len(drifted)} of {len(columns)} columns of the {h.role} set "
                     f"{h.dataset or h.snapshot_id[:12]} drift from the training data "
                     f"({', '.join(c['column'] for c in drifted[:5])})",
                {"heldout": ctx.describe_input(h), "train": [w for w in who if w["snapshot"] == t] or who,
                 "compared_with": t, "columns": columns, "drifted": len(drifted),
                 "compared": len(columns), "share": round(share, 4)},
                severity=level))
        return found

    def _compare(self, ctx: RuleContext, train: dict, held: dict) -> list[dict]:
        columns = []
        for name, tp in sorted(train.items()):
            hp = held.get(name)
            if hp is None or tp.get("kind") != hp.get("kind") or _key_like(tp) or _key_like(hp):
                continue
            if tp.get("kind") in ("numeric", "temporal"):
                # a small sample differs by chance: the KS distance must also be significant
                # at the 1 % level (c = 1.63) for these sample sizes
                n, m = _non_null(tp), _non_null(hp)
                chance = 1.63 * math.sqrt((n + m) / (n * m)) if n and m else 1.0
                stat, metric, limit = ctx.ks_distance(tp, hp), "ks", max(self.config["ks"], chance)
            elif tp.get("kind") == "categorical":
                stat, metric, limit = ctx.js_distance(tp, hp), "jensen_shannon", self.config["js"]
            else:
                continue
            if stat is None:  # an empty profile on one side: nothing to compare
                continue
            columns.append({"column": name, "kind": tp.get("kind"), "metric": metric,
                            "value": round(float(stat), 6), "threshold": limit, "drift": bool(stat >= limit)})
        return columns


def _non_null(profile: dict) -> int:
    return int(profile.get("count", 0) - profile.get("nulls", 0))


def _key_like(profile: dict) -> bool:
    """IDs and row numbers differ between splits by construction; comparing them is noise."""
    kind = str(profile.get("type", ""))
    if not ("int" in kind or "string" in kind or "utf8" in kind):
        return False  # continuous values are all distinct without being keys
    non_null = profile.get("count", 0) - profile.get("nulls", 0)
    return non_null >= 20 and profile.get("distinct", 0) >= 0.95 * non_null
