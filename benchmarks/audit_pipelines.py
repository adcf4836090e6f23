"""Precision and recall of the audit, per rule, on the realistic pipelines of the test suite.

    .venv/bin/python benchmarks/audit_pipelines.py              # every pipeline, Markdown table
    .venv/bin/python benchmarks/audit_pipelines.py -k leak/     # only names containing "leak/"
    .venv/bin/python benchmarks/audit_pipelines.py --json       # machine-readable

The pipelines are those of tests/audit/pipelines/ (every ``shapes_*.py`` module there
registers some in ``PIPELINES``: name -> (build, the rules expected at error or above)).
Each is built in a fresh temporary git repository with lineage initialised, as the
``ws`` fixture does, and audited over all its runs; the rules that fire at error or
above are compared with the expected ones:

- true positive: a rule expected and fired; false positive: fired, not expected;
  false negative: expected, not fired. A clean pipeline (nothing expected) that fires
  a rule counts as a false positive of that rule.
- precision = TP / (TP + FP), recall = TP / (TP + FN), per rule and over all rules;
  "-" when the denominator is zero.

Pipelines the suite lists as known gaps (``GAPS``: what the audit gets wrong today) are
scored like the others and named with their reason under the table. Exit status 1 when a
pipeline fails to build, does not fire exactly its expected rules without being a known
gap, or is a known gap that now fires exactly its rules.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
SUITE = TESTS / "audit" / "pipelines"


def score(cases: Iterable[tuple[Iterable[str], Iterable[str]]]) -> dict:
    """Per-rule counts from ``(expected, fired)`` pairs, one pair per pipeline.

    Returns ``{"rules": {rule: {"tp", "fp", "fn", "precision", "recall"}}, "total": {...},
    "clean": {"pipelines", "stayed_clean"}}``. Only rules that were expected or fired at
    least once appear; precision or recall is ``None`` when its denominator is zero.
    """
    rules: dict[str, dict[str, int]] = {}
    clean = stayed_clean = 0
    for expected, fired in cases:
        expected, fired = set(expected), set(fired)
        if not expected:
            clean += 1
            stayed_clean += not fired
        for rule in expected | fired:
            counts = rules.setdefault(rule, {"tp": 0, "fp": 0, "fn": 0})
            counts["tp" if rule in expected and rule in fired else "fp" if rule in fired else "fn"] += 1

    def ratios(counts: dict[str, int]) -> dict:
        tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
        return {**counts, "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None}

    total = {key: sum(c[key] for c in rules.values()) for key in ("tp", "fp", "fn")}
    return {"rules": {rule: ratios(rules[rule]) for rule in sorted(rules)}, "total": ratios(total),
            "clean": {"pipelines": clean, "stayed_clean": stayed_clean}}


def markdown(result: dict, pipelines: int) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = ["| rule | TP | FP | FN | precision | recall |", "|---|---:|---:|---:|---:|---:|"]
    for rule, c in result["rules"].items():
        lines.append(f"| `{rule}` | {c['tp']} | {c['fp']} | {c['fn']} | {pct(c['precision'])} | "
                     f"{pct(c['recall'])} |")
    t = result["total"]
    lines.append(f"| all rules | {t['tp']} | {t['fp']} | {t['fn']} | {pct(t['precision'])} | "
                 f"{pct(t['recall'])} |")
    clean = result["clean"]
    lines += ["", f"{pipelines} pipeline{'' if pipelines == 1 else 's'}; {clean['pipelines']} clean (nothing expected at error or "
                  f"above), {clean['stayed_clean']} of them stayed clean."]
    return "\n".join(lines)


def load_suite() -> tuple[dict, dict]:
    """Import every ``shapes_*`` module of the suite; return its ``PIPELINES`` registry and
    its known gaps (name -> what the audit gets wrong today)."""
    sys.path.insert(0, str(TESTS))
    for module in sorted(SUITE.glob("shapes_*.py")):
        importlib.import_module(f"audit.pipelines.{module.stem}")
    conftest = importlib.import_module("audit.pipelines.conftest")
    return conftest.PIPELINES, getattr(conftest, "GAPS", {})


def build_one(build, scratch: Path) -> set[str]:
    """Build one pipeline in a fresh repository under ``scratch`` (as the ``ws`` fixture does)
    and return the rules that fire at error or above."""
    from audit.pipelines.conftest import Workspace
    from conftest import git, make_git_repo
    from lineage.repo import Repo

    home = scratch / "home"
    home.mkdir(parents=True)
    os.environ["HOME"] = str(home)
    path = make_git_repo(scratch / "work")
    Repo.init(path)
    repo = Repo.find(path)
    try:
        (repo.root / ".gitignore").write_text("data/\nmodels/\n")
        (repo.root / "pipeline.py").write_text("# the pipeline's code lives in the test\n")
        git(repo.root, "add", ".gitignore", "pipeline.py")
        git(repo.root, "commit", "-q", "-m", "pipeline code")
        ws = Workspace(repo)
        build(ws)
        return ws.errors()
    finally:
        repo.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", dest="substring", default="", help="only pipelines whose name contains this")
    ap.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    args = ap.parse_args(argv)

    for name in ("LINEAGE_DIR", "LINEAGE_RUN_ID"):
        os.environ.pop(name, None)
    os.environ["LINEAGE_USER"] = "Test User <test@example.com>"
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    import warnings

    warnings.simplefilter("ignore")

    pipelines, gaps = load_suite()
    suite = {name: entry for name, entry in sorted(pipelines.items()) if args.substring in name}
    if not suite:
        print(f"no pipeline name contains {args.substring!r}", file=sys.stderr)
        return 2
    runs: list[dict] = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lineage-audit-pipelines-") as tmp:
        for i, (name, (build, expected)) in enumerate(suite.items()):
            t0 = time.perf_counter()
            entry = {"name": name, "expected": sorted(expected), "fired": None, "error": None,
                     "gap": gaps.get(name)}
            try:
                entry["fired"] = sorted(build_one(build, Path(tmp) / f"p{i:03d}"))
            except Exception as exc:  # a pipeline that cannot be built is reported, not scored
                entry["error"] = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                if not args.json:
                    traceback.print_exc()
            entry["seconds"] = round(time.perf_counter() - t0, 2)
            runs.append(entry)
            if not args.json:
                state = ("FAILED" if entry["error"] else
                         "ok" if entry["fired"] == entry["expected"] else
                         "known gap" if entry["gap"] else "MISMATCH")
                print(f"[{i + 1}/{len(suite)}] {name}: {state} ({entry['seconds']:.1f} s)",
                      file=sys.stderr)
    scored = [r for r in runs if r["error"] is None]
    result = score((r["expected"], r["fired"]) for r in scored)
    mismatched = [r for r in scored if r["fired"] != r["expected"]]
    fixed = [r for r in scored if r["fired"] == r["expected"] and r["gap"]]
    failed = [r for r in runs if r["error"] is not None]
    if args.json:
        print(json.dumps({"pipelines": runs, **result, "seconds": round(time.perf_counter() - t_all, 1)},
                         indent=2))
    else:
        print(markdown(result, len(scored)))
        if mismatched or failed:
            print()
        for r in mismatched:
            expected = ", ".join(f"`{x}`" for x in r["expected"]) or "nothing"
            fired = ", ".join(f"`{x}`" for x in r["fired"]) or "nothing"
            why = f" (known gap: {r['gap']})" if r["gap"] else ""
            print(f"- `{r['name']}`: expected {expected}, fired {fired}{why}")
        for r in failed:
            print(f"- `{r['name']}` could not be built: {r['error']}")
    for r in fixed:
        print(f"{r['name']}: listed as a known gap but now exact; remove it from GAPS", file=sys.stderr)
    return 1 if failed or fixed or any(not r["gap"] for r in mismatched) else 0


if __name__ == "__main__":
    sys.exit(main())
