"""What numeric near-duplicate detection costs, next to the exact overlap check.

Builds a repository with a training table of N rows and a held-out table of M rows
(10 float64 columns each, Parquet). The held-out table holds fresh rows, 1 % exact
copies of training rows and 1 % copies with 1e-9 relative noise. Records a `train`
and an `evaluate` run, then times, as the best of `--repeat`:

- the `exact-overlap` rule's check and the `near-duplicate` rule's check of the
  evaluation, each on a fresh audit context (fingerprints read from the store, as in
  an audit), and again on a warm context (tables already loaded: the comparison alone);
- the extra snapshot-time cost of the two near keys: one streaming pass over the
  training file (read, profiles, fingerprints, writing) with and without them.

The target (issue "numeric near-duplicates"): the near-duplicate check within twice
the time of the exact overlap check at 1M x 200k rows.

Usage: .venv/bin/python benchmarks/numeric_near_duplicates.py [--train 1000000] [--heldout 200000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = 10


def build(root: Path, n_train: int, n_heldout: int) -> str:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    import lineage
    from lineage.repo import Repo

    subprocess.run(["git", "init", "-q", str(root)], check=True)
    Repo.init(root)
    repo = Repo.find(root)
    rng = np.random.default_rng(7)
    train = rng.normal(size=(n_train, COLUMNS)) * 10.0 ** rng.integers(-3, 4, size=COLUMNS)
    heldout = rng.normal(size=(n_heldout, COLUMNS)) * 10.0 ** rng.integers(-3, 4, size=COLUMNS)
    k = n_heldout // 100
    pick = rng.choice(n_train, size=2 * k, replace=False)
    heldout[:k] = train[pick[:k]]                                                   # exact copies
    heldout[k:2 * k] = train[pick[k:]] * (1 + 1e-9 * rng.choice([-1, 1], size=(k, COLUMNS)))  # noisy
    data = root / "data"
    data.mkdir()
    for name, values in (("train", train), ("test", heldout)):
        pq.write_table(pa.table({f"x{i}": values[:, i] for i in range(COLUMNS)}), data / f"{name}.parquet")
        lineage.snapshot(data / f"{name}.parquet", repo=repo, name=name)
    (root / "model.pkl").write_text("m")
    with lineage.run(kind="train", repo=repo) as r:
        r.input(data / "train.parquet", role="train")
        r.output(root / "model.pkl")
    with lineage.run(kind="evaluate", repo=repo) as r:
        r.input(root / "model.pkl", role="model")
        r.input(data / "test.parquet", role="test")
    return r.id


def best(repeat: int, fn) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", type=int, default=1_000_000)
    ap.add_argument("--heldout", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from lineage.audit.context import AuditContext
    from lineage.audit.rules.overlap import ExactOverlap, NearDuplicate
    from lineage.repo import Repo
    from lineage.tabular.compute import compute_file
    from lineage.tabular.readers import detect

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        t0 = time.perf_counter()
        ev = build(root, args.train, args.heldout)
        print(f"built {args.train:,} training x {args.heldout:,} held-out rows ({COLUMNS} float columns) "
              f"in {time.perf_counter() - t0:.1f} s")
        repo = Repo.find(root)

        def cold(rule):
            ctx = AuditContext(repo)
            return rule.check(ctx, ctx.run(ev))

        exact_rule, near_rule = ExactOverlap(), NearDuplicate()
        t_exact, f_exact = best(args.repeat, lambda: cold(exact_rule))
        t_near, f_near = best(args.repeat, lambda: cold(near_rule))
        warm = AuditContext(repo)
        run = warm.run(ev)
        exact_rule.check(warm, run), near_rule.check(warm, run)  # load and cache the tables
        w_exact, _ = best(args.repeat, lambda: exact_rule.check(warm, run))
        w_near, _ = best(args.repeat, lambda: near_rule.check(warm, run))
        overlap = f_exact[0].evidence["overlap"] if f_exact else 0
        near = f_near[0].evidence["near_duplicates"] if f_near else 0
        print(f"exact-overlap check   {t_exact:7.3f} s   ({overlap:,} exact copies found)")
        print(f"near-duplicate check  {t_near:7.3f} s   ({near:,} near-copies found)   "
              f"ratio {t_near / t_exact:.2f}x (target <= 2x)")
        print(f"  tables already loaded: exact {w_exact:.3f} s, near {w_near:.3f} s, "
              f"ratio {w_near / w_exact:.2f}x")

        path = str(root / "data" / "train.parquet")
        tmpdir = str(Path(tmp))

        def one_pass(near_keys: bool):
            return compute_file(path, detect(path), {}, display="train.parquet", tmpdir=tmpdir,
                                near_keys=near_keys)

        t_without, m1 = best(args.repeat, lambda: one_pass(False))
        t_with, m2 = best(args.repeat, lambda: one_pass(True))
        size_without = Path(m1.fingerprints_path).stat().st_size
        size_with = Path(m2.fingerprints_path).stat().st_size
        print(f"snapshot-time pass over the training file: {t_without:.2f} s without near keys, "
              f"{t_with:.2f} s with (+{t_with - t_without:.2f} s, +{(t_with / t_without - 1):.0%}); "
              f"fingerprint object {size_without / 2**20:.1f} MiB -> {size_with / 2**20:.1f} MiB")
        ok = t_near <= 2 * t_exact
        print("within target" if ok else "OVER TARGET")


if __name__ == "__main__":
    main()
