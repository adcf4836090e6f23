"""Provenance and used-by on a lineage graph of 1,000,000 edges.

Target (DESIGN.md): provenance of a model in a graph of 1M edges under 50 ms.

The graph is written straight into the projection tables of a fresh repository
(bulk inserts: replaying a million events through the log would measure the
writer, not the queries). Its shape follows real use: many five-step pipelines
(split -> fit -> transform -> train -> evaluate), each run reading three
snapshots and writing one; a pipeline's raw data is often the output of an earlier
pipeline, so ancestry runs deep; a few shared reference datasets are read by
thousands of runs. Then the library calls are timed (median of several runs):

- ``provenance`` of the model at the end of the deepest chain,
- ``used_by`` of a snapshot read by many runs, with and without ``--downstream``
  (downstream is reported for information: its cost grows with what is derived).

Usage: .venv/bin/python benchmarks/provenance_1m_edges.py [--edges N] [--repeat K]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("split", "fit", "transform", "train", "evaluate")
T0 = 1_767_000_000
#: A pipeline reads an earlier pipeline's output at most this many levels deep.
MAX_DEPTH = 12


def iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000Z"


def build(repo, target_edges: int, seed: int = 7) -> dict[str, object]:
    """Fill the projection tables with pipelines until ``target_edges`` edges exist."""
    rng = random.Random(seed)
    conn = repo.graph.conn
    snap_n = 0
    run_n = 0

    def new_snapshot() -> str:
        nonlocal snap_n
        snap_n += 1
        return f"{snap_n:064x}"

    snapshots: list[tuple] = []
    records: list[tuple] = []
    content: list[tuple] = []
    runs: list[tuple] = []
    inputs: list[tuple] = []
    outputs: list[tuple] = []
    edges: set[tuple[str, str, str]] = set()  # (parent, child, kind)

    def add_snapshot(dataset: str, t: int) -> str:
        sid = new_snapshot()
        snapshots.append((sid, "folder", 3, 3000, iso(t)))
        records.append((f"e{sid}", sid, dataset, 1, dataset, iso(t), "bench"))
        content.append((sid, f"c{sid[8:]}"))
        return sid

    references = [add_snapshot(f"reference/{i}", T0) for i in range(2000)]
    popular = references[0]
    models: list[tuple[str, int]] = []  # (model snapshot, depth)
    raw_pool: list[tuple[str, int]] = [(add_snapshot("raw/0", T0), 0)]
    t = T0
    while len(edges) < target_edges:
        # raw data: a fresh dataset, or an earlier pipeline's output (deep ancestry)
        reusable = [r for r in raw_pool[-50:] if r[1] < MAX_DEPTH]
        if rng.random() < 0.7 and reusable:
            raw, depth = reusable[-1] if rng.random() < 0.3 else rng.choice(reusable)
        else:
            raw, depth = add_snapshot(f"raw/{len(raw_pool)}", t), 0
        prev = raw
        model = None
        for kind in KINDS:
            run_n += 1
            t += 1
            rid = f"run-{run_n:09d}"
            ref = popular if rng.random() < 0.005 else rng.choice(references)
            role_main = {"split": "other", "fit": "train", "transform": "train", "train": "train",
                         "evaluate": "test"}[kind]
            reads = [(prev, role_main), (ref, "reference"),
                     (model if kind == "evaluate" and model else rng.choice(references[1:]), "model"
                      if kind == "evaluate" else "other")]
            runs.append((rid, kind, "succeeded", 0, None, None, iso(t), iso(t + 1), "bench", "host",
                         f"{run_n % 997:040x}", "main", 0, None, None, "{}", None, f"s{rid}", f"f{rid}"))
            for sid, role in reads:
                inputs.append((f"i{rid}{role}{sid[-6:]}", rid, sid, role, None, None, iso(t)))
                edges.add((sid, rid, "input"))
            out = add_snapshot(f"{kind}/{run_n}", t + 1)
            outputs.append((f"o{rid}", rid, out, None, f"{kind}/{run_n}", iso(t + 1)))
            edges.add((rid, out, "output"))
            if kind == "train":
                model = out
                models.append((out, depth + 1))
            prev = out
        raw_pool.append((prev, depth + 1))

    with repo.graph.transaction():
        conn.executemany("INSERT OR IGNORE INTO snapshots VALUES (?, ?, ?, ?, ?)", snapshots)
        conn.executemany(
            "INSERT OR IGNORE INTO snapshot_records (event_id, snapshot_id, dataset, version, path, time, user) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", records)
        conn.executemany("INSERT OR IGNORE INTO snapshot_content VALUES (?, ?)", content)
        conn.executemany("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
        conn.executemany("INSERT OR IGNORE INTO run_input_records VALUES (?, ?, ?, ?, ?, ?, ?)", inputs)
        conn.executemany("INSERT INTO run_output_records VALUES (?, ?, ?, ?, ?, ?)", outputs)
        conn.executemany("INSERT OR IGNORE INTO edges_up (child, parent, kind) VALUES (?, ?, ?)",
                         sorted((c, p, k) for p, c, k in edges))
        conn.executemany("INSERT OR IGNORE INTO edges_down (parent, child, kind) VALUES (?, ?, ?)",
                         sorted(edges))
    conn.execute("ANALYZE")
    deepest = max(models, key=lambda m: m[1])
    return {"edges": conn.execute("SELECT count(*) FROM edges_up").fetchone()[0], "runs": run_n,
            "snapshots": snap_n, "model": deepest[0], "model_depth": deepest[1], "popular": popular}


def timed(fn, repeat: int) -> tuple[float, float, object]:
    first_start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - first_start
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return first * 1000, statistics.median(times) * 1000, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    from lineage.runs import provenance
    from lineage.repo import Repo

    with tempfile.TemporaryDirectory(prefix="lineage-bench-") as tmp:
        repo, _ = Repo.init(tmp)
        os.chdir(tmp)
        start = time.perf_counter()
        info = build(repo, args.edges)
        build_s = time.perf_counter() - start
        size_mb = (Path(tmp) / ".lineage" / "lineage.db").stat().st_size / 1e6
        print(f"graph: {info['edges']:,} edges, {info['runs']:,} runs, {info['snapshots']:,} snapshots "
              f"({size_mb:.0f} MB, built in {build_s:.1f} s)")
        repo.close()
        repo = Repo.find(tmp)  # a fresh connection, as a CLI call would have

        cold, med, prov = timed(lambda: provenance.provenance(repo, info["model"]), args.repeat)
        runs = len(prov.runs())
        print(f"provenance of a model {info['model_depth']} pipelines deep: {len(prov.nodes):,} nodes, "
              f"{len(prov.edges):,} edges, {runs:,} runs -> median {med:.1f} ms (first call {cold:.1f} ms)")
        ok = med < 50

        cold, med, used = timed(lambda: provenance.used_by(repo, info["popular"]), args.repeat)
        print(f"used-by of a shared snapshot: {len(used.uses):,} reading runs -> median {med:.1f} ms "
              f"(first call {cold:.1f} ms)")
        ok = ok and med < 50
        leaf = info["model"]
        cold, med, used = timed(lambda: provenance.used_by(repo, leaf, downstream=True), args.repeat)
        print(f"used-by --downstream of that model: {len(used.uses):,} runs -> median {med:.1f} ms "
              f"(first call {cold:.1f} ms)")
        repo.close()
    print("target < 50 ms (provenance, used-by):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
