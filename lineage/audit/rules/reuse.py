"""Rules on final scorings: a test set is used once, and picking the best of many is optimistic."""

from __future__ import annotations

import math

from lineage.audit.protocol import RuleContext, RunView
from lineage.audit.queries import counts_as_scoring
from lineage.audit.rules.registry import Finding, Rule, Severity, register


def _same_test(ctx: RuleContext, containment: float, test_sid: str, other_sid: str) -> tuple[bool, str, float | None]:
    """Is ``other_sid`` the same test content as ``test_sid``? (why, row containment)."""
    if other_sid == test_sid:
        return True, "same snapshot", 1.0
    key = ctx.content_key(test_sid)
    if key is not None and key == ctx.content_key(other_sid):
        return True, "same files (a copy under another name)", 1.0
    o = ctx.overlap([test_sid], other_sid)
    if o["rows"] and o["fraction"] >= containment:
        return True, f"{o['fraction']:.0%} of its rows are in this test set", o["fraction"]
    return False, "", o["fraction"] if o["rows"] else None


def _models(ctx: RuleContext, run: RunView) -> set[str]:
    """The content of the models a run scored (its ``model`` inputs); empty without any."""
    return {ctx.content_key(i.snapshot_id) or i.snapshot_id for i in run.inputs if i.role == "model"}


def _test_scores(run: RunView) -> set[tuple[str, float]]:
    return {(m.name, m.value) for m in run.metrics if m.split in ("test", None)}


def _same_model(ctx: RuleContext, run: RunView, other_id: str) -> bool:
    """Whether another scoring reproduced this one: the very same model bytes, and the same
    test scores. A rerun of the same script reveals nothing new about the test set; a
    different score (another metric, another threshold) is a new look."""
    mine = _models(ctx, run)
    other = ctx.run(other_id)
    return bool(mine) and mine == _models(ctx, other) and _test_scores(run) == _test_scores(other)


def _earlier_scorings(ctx: RuleContext, run: RunView, test_sid: str, containment: float) -> list[dict]:
    """Final scorings of the same test content started before ``run`` (``ctx.final_scorings``
    applies the failed-run policy), other than scorings of the very same model."""
    out = []
    for s in ctx.final_scorings:
        if s["run_id"] == run.run_id or s["started"] >= run.started:
            continue
        if _same_model(ctx, run, s["run_id"]):
            continue
        same, why, fraction = _same_test(ctx, containment, test_sid, s["snapshot_id"])
        if same:
            out.append({**s, "why": why, "containment": fraction})
    return out


@register
class TestReuse(Rule):
    """Test content already used by an earlier final scoring is scored again.

    Test data is used once, for the final score; after that it is validation data, and
    every further look makes the reported score more optimistic (Dwork et al., 2015).
    Reuse is found by content, not by name: the same snapshot, a renamed copy, a
    re-exported file with the same rows, or a test set keeping `containment` (90 %) or
    more of an earlier scored one's rows. The first final scoring passes. A failed or
    aborted evaluation counts as a scoring only when it logged a test score (a metric
    with split `test` or no split). Scoring the very same model bytes again with the
    same scores (rerunning the same script) is not a reuse: it reveals nothing new. Fix: collect a
    fresh test set, or report the earlier score.
    """

    slug = "test-reuse"
    severity = Severity.error
    title = "test content already used by an earlier final scoring"
    options = {"containment": 0.9}

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        if run.kind != "evaluate" or not counts_as_scoring(run.status, [m.split for m in run.metrics]):
            return []
        found = []
        for t in ctx.heldout_inputs(run, ("test",)):
            earlier = _earlier_scorings(ctx, run, t.snapshot_id, self.config["containment"])
            if earlier:
                names = ", ".join(e["run_id"] for e in earlier[:5])
                found.append(self.finding(
                    run, f"test set {t.dataset or t.path or t.snapshot_id[:12]} was already used for final "
                         f"scoring by {len(earlier)} earlier run(s): {names}",
                    {"test": ctx.describe_input(t), "earlier": earlier[:20], "uses": len(earlier) + 1}))
        return found


def expected_optimism(p: float, n: int, k: int) -> float:
    """The expected optimism of the best of ``k`` scores ``p`` on ``n`` test rows:
    max(sigma * sqrt(2 ln k), 0.2 * sqrt(k / n)), sigma = sqrt(p (1 - p) / n); 0 for one model."""
    if k < 2 or n < 1:
        return 0.0
    p = min(max(p, 0.0), 1.0)
    sigma = math.sqrt(p * (1 - p) / n)
    return max(sigma * math.sqrt(2 * math.log(k)), 0.2 * math.sqrt(k / n))


@register
class SelectionOptimism(Rule):
    """The best of k models scored on one test set wins by less than selection alone explains.

    Picking the best of k models on n test rows inflates its score by about
    max(sigma * sqrt(2 ln k), 0.2 * sqrt(k / n)), with sigma = sqrt(p (1 - p) / n) for an
    accuracy-like metric p (the second term is what adaptive reuse can reach). When the
    winner's margin over the runner-up (or a reported `margin` metric) is within that
    optimism, the ranking is noise. Fix: confirm the winner on fresh data.
    """

    slug = "selection-optimism"
    severity = Severity.warning
    title = "expected optimism of picking the best of k models on one test set"
    options = {"metric": "", "higher_is_better": True, "containment": 0.9}

    def _metric(self, run) -> tuple[str, float] | None:
        test = [m for m in run.metrics if m.split == "test" and m.name != "margin"]
        if self.config["metric"]:
            test = [m for m in test if m.name == self.config["metric"]]
        else:
            test = [m for m in test if 0.0 <= m.value <= 1.0]
            test.sort(key=lambda m: ("acc" not in m.name.lower(), m.name))
        return (test[0].name, test[0].value) if test else None

    def check(self, ctx: RuleContext, run: RunView) -> list[Finding]:
        if run.kind != "evaluate":
            return []
        mine = self._metric(run)
        if mine is None:
            return []
        name, value = mine
        found = []
        for t in ctx.heldout_inputs(run, ("test",)):
            rivals = []
            for s in ctx.final_scorings:
                if s["run_id"] == run.run_id or _same_model(ctx, run, s["run_id"]):
                    continue  # the same model scored again is one candidate, not two
                same, _why, _ = _same_test(ctx, self.config["containment"], t.snapshot_id, s["snapshot_id"])
                if not same:
                    continue
                other = ctx.run(s["run_id"])
                vals = [m.value for m in other.metrics if m.split == "test" and m.name == name]
                if vals:
                    rivals.append((s["run_id"], vals[-1]))
            k = len(rivals) + 1
            if k < 2:
                continue
            sign = 1 if self.config["higher_is_better"] else -1
            best_other = max(rivals, key=lambda r: sign * r[1])
            if sign * value < sign * best_other[1]:
                continue  # this run was not the one picked
            n = max(1, len(ctx.keys(t.snapshot_id)[1]))
            p = min(max(value, 0.0), 1.0)
            sigma = math.sqrt(p * (1 - p) / n)
            optimism = expected_optimism(p, n, k)
            reported = [m.value for m in run.metrics if m.name == "margin"]
            margin = reported[-1] if reported else sign * (value - best_other[1])
            if margin <= optimism:
                found.append(self.finding(
                    run, f"best of k={k} models on the same {n}-row test set wins by {margin:.4f} {name}, "
                         f"within the expected optimism {optimism:.4f} of picking the best",
                    {"test": ctx.describe_input(t), "metric": name, "value": value, "k": k, "n": n,
                     "sigma": round(sigma, 6), "optimism": round(optimism, 6), "margin": round(margin, 6),
                     "runner_up": {"run_id": best_other[0], "value": best_other[1]},
                     "scorings": [{"run_id": r, "value": v} for r, v in rivals][:20]}))
        return found
