"""Write a small synthetic tabular dataset (train/validation/test CSV files).

    python examples/make_data.py data --rows 2000 --seed 1
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path


def rows(n: int, rng: random.Random, start: int = 0):
    for i in range(start, start + n):
        a, b = rng.gauss(0, 1), rng.gauss(5, 2)
        colour = rng.choice(["red", "green", "blue"])
        label = int(a + 0.3 * b + rng.gauss(0, 0.5) > 1.5)
        yield {"id": i, "a": round(a, 6), "b": round(b, 6), "colour": colour, "label": label}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="write just this one file")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n_val = n_test = args.rows // 5
    splits = {"train.csv": (args.rows, 0), "validation.csv": (n_val, 10**6), "test.csv": (n_test, 2 * 10**6)}
    for name, (n, start) in splits.items():
        if args.only and name != args.only:
            continue
        with open(out / name, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["id", "a", "b", "colour", "label"])
            w.writeheader()
            w.writerows(rows(n, rng, start))


if __name__ == "__main__":
    main()
