"""What the audit's trust check costs: ``lineage audit RUN`` on a repository of 1,000 runs.

The audit refuses to read derived tables that differ from the event log (docs/audit.md,
"What the audit trusts"). This builds a repository of N runs (five-step pipelines
recorded through the Python API: split, fit, transform, train, evaluate, with
tabular inputs) and times, as medians:

- the audit of one evaluation run with the trust check (the default),
- the same audit with ``verify=False`` (the difference is the check's cost),
- the check alone: with nothing new in the log, after one new run, and the first
  time (no kept replay yet: a full replay), and the full ``check_projections`` of
  ``lineage verify``.

Usage: .venv/bin/python benchmarks/audit_precondition.py [--runs 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _table(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def build(root: Path, pipelines: int) -> list[str]:
    import lineage
    from lineage.repo import Repo

    subprocess.run(["git", "init", "-q", str(root)], check=True)
    Repo.init(root)
    repo = Repo.find(root)
    rng = random.Random(3)
    evaluations = []

    def run(kind, inputs, outputs=(), metrics=()):
        with lineage.run(kind=kind, repo=repo) as r:
            for role, p in inputs:
                r.input(root / p, role=role)
            for name, value, split in metrics:
                r.log_metric(name, value, split=split)
            for p in outputs:
                r.output(root / p)
        return r.id

    for k in range(pipelines):
        d = f"p{k}"
        full = [{"id": i, "a": round(rng.gauss(0, 1), 6), "label": rng.randint(0, 1)} for i in range(60)]
        _table(root / d / "full.csv", full)
        for name, part in (("train", full[:40]), ("val", full[40:50]), ("test", full[50:])):
            _table(root / d / f"{name}.csv", part)
        run("split", [("other", f"{d}/full.csv")], [f"{d}/train.csv", f"{d}/val.csv", f"{d}/test.csv"])
        (root / d / "scaler.json").write_text(f'{{"mean": {k}}}')
        run("fit", [("train", f"{d}/train.csv")], [f"{d}/scaler.json"])
        run("transform", [("model", f"{d}/scaler.json"), ("other", f"{d}/train.csv")], [f"{d}/train.csv"])
        (root / d / "model.pkl").write_text(f"weights {k}")
        run("train", [("train", f"{d}/train.csv"), ("validation", f"{d}/val.csv")], [f"{d}/model.pkl"],
            [("accuracy", 0.8, "validation")])
        evaluations.append(run("evaluate", [("model", f"{d}/model.pkl"), ("test", f"{d}/test.csv")],
                               metrics=[("accuracy", 0.8, "test")]))
    repo.close()
    return evaluations


def median_ms(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", help="reuse (or create) the repository here")
    args = ap.parse_args()
    from lineage import audit
    from lineage.log import integrity
    from lineage.repo import Repo

    root = Path(args.dir or tempfile.mkdtemp(prefix="lineage-audit-bench-"))
    if not (root / ".lineage").exists():
        t = time.perf_counter()
        build(root, args.runs // 5)
        print(f"built {args.runs} runs in {time.perf_counter() - t:.1f} s at {root}")
    import lineage

    with Repo.find(root) as repo:
        target = audit.select_runs(repo, all_runs=True)[-1]
        (root / ".lineage" / integrity.REPLAY_DB).unlink(missing_ok=True)
        first = median_ms(1, lambda: integrity.check_audit_tables(repo.graph))
        checked = median_ms(args.repeat, lambda: audit.run(repo, [target]))
        unchecked = median_ms(args.repeat, lambda: audit.run(repo, [target], verify=False))
        alone = median_ms(args.repeat, lambda: integrity.check_audit_tables(repo.graph))
        after = []
        for _ in range(args.repeat):
            with lineage.run(kind="evaluate", repo=repo) as r:
                r.log_metric("accuracy", 0.5, split="test")
            after.append(median_ms(1, lambda: integrity.check_audit_tables(repo.graph)))
        full = median_ms(max(1, args.repeat // 2), lambda: integrity.check_projections(repo.graph))
    print(f"audit RUN, checked            {checked:8.1f} ms")
    print(f"audit RUN, verify=False       {unchecked:8.1f} ms")
    print(f"  trust check, nothing new    {alone:8.1f} ms")
    print(f"  trust check, one new run    {statistics.median(after):8.1f} ms")
    print(f"  trust check, first (replay) {first:8.1f} ms")
    print(f"  full table check of verify  {full:8.1f} ms")

if __name__ == "__main__":
    main()
